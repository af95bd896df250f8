import { run } from './process.ts'

/**
 * A network namespace joined to the host by a veth pair (10.<subnet>.0.1 on the host side,
 * .2 inside): a process started in it reaches the host only over that link, so taking the
 * host's end down is a real partition (packets dropped, no reset), and bringing it up heals it.
 * Needs root (CAP_NET_ADMIN); `probeNetns` says whether this machine allows it.
 */
export interface IsolatedNetwork {
  readonly name: string
  /** The host's address on the link: what a process inside connects to. */
  readonly hostAddress: string
  /** Prefix for a command run inside: `ip netns exec <name>`. */
  readonly exec: string[]
  partition(): Promise<void>
  heal(): Promise<void>
  remove(): Promise<void>
}

const ip = (args: string[]) => run('ip', args)

export async function createIsolatedNetwork(name: string, subnet: number): Promise<IsolatedNetwork> {
  if (!/^[a-z0-9-]{1,10}$/.test(name)) throw new Error('a namespace name is 1-10 lowercase letters, digits or dashes (it names the veth ends too)')
  const [hostEnd, innerEnd] = [`${name}-h`, `${name}-i`]
  const hostAddress = `10.${subnet}.0.1`
  // A namespace left by a crashed run is replaced, not reused half set up.
  await ip(['link', 'del', hostEnd]).catch(() => undefined)
  await ip(['netns', 'del', name]).catch(() => undefined)
  const steps = [
    ['netns', 'add', name],
    ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', innerEnd],
    ['link', 'set', innerEnd, 'netns', name],
    ['addr', 'add', `${hostAddress}/24`, 'dev', hostEnd],
    ['link', 'set', hostEnd, 'up'],
    ['netns', 'exec', name, 'ip', 'addr', 'add', `10.${subnet}.0.2/24`, 'dev', innerEnd],
    ['netns', 'exec', name, 'ip', 'link', 'set', innerEnd, 'up'],
    ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up'],
  ]
  try {
    for (const step of steps) await ip(step)
  } catch (error) {
    await ip(['link', 'del', hostEnd]).catch(() => undefined)
    await ip(['netns', 'del', name]).catch(() => undefined)
    throw error
  }
  return {
    name,
    hostAddress,
    exec: ['ip', 'netns', 'exec', name],
    partition: () => ip(['link', 'set', hostEnd, 'down']).then(() => undefined),
    heal: () => ip(['link', 'set', hostEnd, 'up']).then(() => undefined),
    async remove() {
      await ip(['link', 'del', hostEnd]).catch(() => undefined)
      await ip(['netns', 'del', name]).catch(() => undefined)
    },
  }
}

/** undefined when namespaces work here; otherwise the exact error (no root, a locked-down container). */
export async function probeNetns(): Promise<string | undefined> {
  const name = `probe${process.pid % 10_000}`
  try {
    const network = await createIsolatedNetwork(name, 254)
    await network.remove()
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
}
