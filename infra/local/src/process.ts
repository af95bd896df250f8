import { spawn, type SpawnOptions } from 'node:child_process'
import { accessSync, constants, existsSync, readFileSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { createConnection } from 'node:net'
import { repoRoot } from './paths.ts'

/**
 * False for a zombie too: an exited child nobody has reaped yet (the parent `up` process is
 * gone) still answers kill(pid, 0), but it holds no port and can never be stopped.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  return processState(pid) !== 'Z'
}

/** The one-letter state from /proc (R, S, Z, …); undefined where /proc is unavailable. */
function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // "pid (command) S …": the command may hold spaces and parentheses, the state follows the last ")".
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  } catch {
    return undefined
  }
}

/**
 * True when `pid` is alive and its command line contains `commandPart` (or /proc cannot tell):
 * a pid remembered in a file is checked before it is signalled, in case the number was reused.
 */
export function isRunning(pid: number, commandPart: string): boolean {
  if (!isAlive(pid)) return false
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(commandPart)
  } catch {
    return true
  }
}

export function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined
  const pid = Number(readFileSync(file, 'utf8').trim())
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Resolves true when something accepts TCP connections on host:port. */
export function isPortOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(intervalMs)
  }
  throw new Error(`${what} did not become ready within ${Math.round(timeoutMs / 1000)} s`)
}

/**
 * The absolute path of a required binary (PATH, then the sbin folders Debian uses, which a
 * non-login root shell may lack); a one-line hint instead of a spawn ENOENT when it is missing.
 */
export function requireCommand(command: string, debianPackage: string): string {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/sbin', '/usr/local/sbin']
  for (const dir of dirs) {
    const candidate = join(dir, command)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not in this folder
    }
  }
  throw new Error(`${command} is not installed: run \`apt-get install ${debianPackage}\` as root (npm test and npm run demo do it for you)`)
}

/** Runs a command to completion; rejects with its stderr on a non-zero exit. */
export function run(command: string, args: string[], options: SpawnOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options })
    let out = ''
    let err = ''
    child.stdout?.on('data', (d: Buffer) => (out += d))
    child.stderr?.on('data', (d: Buffer) => (err += d))
    child.once('error', reject)
    child.once('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${command} exited with ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`)),
    )
  })
}

/** Sends SIGTERM, waits, then SIGKILL: nothing is left behind. */
export async function stopPid(pid: number, graceMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return
  process.kill(pid, 'SIGTERM')
  const deadline = Date.now() + graceMs
  while (isAlive(pid) && Date.now() < deadline) await sleep(50)
  if (isAlive(pid)) process.kill(pid, 'SIGKILL')
  while (isAlive(pid)) await sleep(20)
}

/**
 * Stops a process that leads its own process group (spawned detached, or a daemon): `signal`
 * to the leader, up to `graceMs` for it to exit, then SIGKILL to the whole group, so helpers
 * it started (tsx's esbuild, nginx's workers) go with it.
 */
export async function stopProcessGroup(
  leader: number,
  { signal = 'SIGTERM', graceMs = 10_000 }: { signal?: NodeJS.Signals; graceMs?: number } = {},
): Promise<void> {
  // An exited leader's number may already belong to someone else: never signal that group.
  if (!isAlive(leader)) return
  process.kill(leader, signal)
  const deadline = Date.now() + graceMs
  while (isAlive(leader) && Date.now() < deadline) await sleep(50)
  try {
    process.kill(-leader, 'SIGKILL')
  } catch {
    // the group is already empty
  }
  while (isAlive(leader)) await sleep(20)
}

/**
 * The node arguments that run `script`: compiled JavaScript (`npm run build`, the services' dist/)
 * with the `compiled` export condition, so workspace packages resolve to their dist/ too; a
 * TypeScript entry (a benchmark's baseline, an earlier commit's tree) through tsx.
 */
export function nodeArgsFor(script: string): string[] {
  if (!script.endsWith('.js')) return ['--import', 'tsx', script]
  const path = isAbsolute(script) ? script : join(repoRoot, script)
  if (!existsSync(path)) throw new Error(`${script} is not built: run \`npm run build\` (the services run compiled JavaScript)`)
  return ['--conditions=compiled', script]
}
