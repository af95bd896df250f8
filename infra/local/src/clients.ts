import { Pool } from 'undici'

/**
 * Distinct clients on one machine. nginx limits each client address (infra/nginx), so a crowd that
 * all came from 127.0.0.1 would be one client to it. On Linux all of 127.0.0.0/8 is loopback:
 * client `i` connects from its own address, 127.0.x.y (x ≥ 1, so never 127.0.0.1 itself).
 */
export function clientAddress(i: number): string {
  if (!Number.isSafeInteger(i) || i < 0 || i >= 250 * 250) throw new Error(`client ${i}: between 0 and ${250 * 250 - 1}`)
  return `127.0.${1 + Math.floor(i / 250)}.${2 + (i % 250)}`
}

/**
 * One undici Pool per client address; `client(i)` is the pool of client i (mod the crowd's size).
 * Crowds that must not share an address (a bot beside the people) take different `firstClient`s.
 */
export function createCrowd(
  origin: string,
  { clients, connectionsEach, firstClient = 0, ...options }: { clients: number; connectionsEach: number; firstClient?: number } & Pool.Options,
) {
  const pools = Array.from(
    { length: clients },
    (_, i) => new Pool(origin, { ...options, connections: connectionsEach, localAddress: clientAddress(firstClient + i) }),
  )
  return {
    client: (i: number) => pools[i % pools.length] as Pool,
    close: () => Promise.all(pools.map((pool) => pool.close())),
  }
}

export type Crowd = ReturnType<typeof createCrowd>
