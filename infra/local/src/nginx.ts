import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ServiceName } from '@commerce/kit'
import { repoRoot } from './paths.ts'
import { isPortOpen, isRunning, readPid, requireCommand, run, stopProcessGroup, waitFor } from './process.ts'

export const nginxTemplateFile = join(repoRoot, 'infra/nginx/nginx.conf.template')

/** The template's placeholder for each service's upstream server lines (the local stack and the deploy renderer fill them). */
export const serversPlaceholder: Record<ServiceName, string> = {
  'user-api': 'USER_API_SERVERS',
  'coupon-api': 'COUPON_API_SERVERS',
  'event-apply': 'EVENT_APPLY_SERVERS',
  'batch-worker': 'BATCH_WORKER_SERVERS',
}

export interface NginxOptions {
  /** Folder nginx runs from: its config, pid file, error log and temp files. */
  prefix: string
  /** Listen address; 127.0.0.1 keeps the local stack off the network. */
  host?: string
  port: number
  /** `host:port` of every replica, per service. */
  upstreams: Record<ServiceName, readonly string[]>
}

export interface NginxInstance {
  prefix: string
  configFile: string
  /** The master process; it leads the process group of its workers. */
  pid: number
  url: string
}

/**
 * Replaces every upper-case `${NAME}` (nginx's own `$variables` are lower-case and left alone);
 * a placeholder without a value is an error, never an empty string in the config.
 */
export function renderTemplate(template: string, values: Readonly<Record<string, string>>): string {
  const missing = new Set<string>()
  const rendered = template.replace(/\$\{([A-Z][A-Z0-9_]*)\}/g, (_placeholder, name: string) => {
    const value = values[name]
    if (value === undefined) missing.add(name)
    return value ?? ''
  })
  if (missing.size > 0) throw new Error(`nginx template: no value for ${[...missing].join(', ')}`)
  return rendered
}

/** The `server` lines of one upstream block. */
export function upstreamServers(addresses: readonly string[]): string {
  // A block must list a server: a `down` one makes nginx answer 502 UPSTREAM_UNAVAILABLE.
  if (addresses.length === 0) return 'server 127.0.0.1:1 down;'
  return addresses.map((address) => `server ${address} max_fails=1 fail_timeout=2s;`).join('\n        ')
}

export function renderNginxConfig({ prefix, host = '127.0.0.1', port, upstreams }: NginxOptions): string {
  const values: Record<string, string> = { PREFIX: prefix, LISTEN: `${host}:${port}` }
  for (const [service, placeholder] of Object.entries(serversPlaceholder) as [ServiceName, string][]) {
    values[placeholder] = upstreamServers(upstreams[service])
  }
  return renderTemplate(readFileSync(nginxTemplateFile, 'utf8'), values)
}

/** nginx's own message without its timestamp and process prefix. */
const nginxMessage = (error: Error) => error.message.replace(/\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[\w+\] \d+#\d+: /g, '')

const portInUse = (port: number) => `port ${port} is in use: stop what holds it, or pick another port for nginx (--port)`

/**
 * nginx clears its workers' environment (all but TZ). Under `npm test -- --at` libfaketime is
 * already loaded in them, but it re-reads its settings from the environment every 10 s and, finding
 * none, falls back to the real clock: a worker's fail_timeout then compares a real "now" with a
 * failure stamped on the shifted clock, and the replica it failed on is never tried again.
 * `env NAME;` directives keep those variables (only when set: the deployed config is untouched).
 */
function keptEnvironment(): string[] {
  const names = Object.keys(process.env).filter((name) => name.startsWith('FAKETIME'))
  return names.length ? ['-g', names.map((name) => `env ${name};`).join(' ')] : []
}

/**
 * Renders the config into `prefix`, validates it with `nginx -t` and starts nginx as a daemon
 * that writes only under `prefix`. Resolves once it accepts connections.
 */
export async function startNginx(options: NginxOptions): Promise<NginxInstance> {
  const nginx = requireCommand('nginx', 'nginx-light')
  const { prefix, port, host = '127.0.0.1' } = options
  if (await isPortOpen(port, host)) throw new Error(portInUse(port))
  mkdirSync(join(prefix, 'temp'), { recursive: true })
  const configFile = join(prefix, 'nginx.conf')
  const pidFile = join(prefix, 'nginx.pid')
  const errorLog = join(prefix, 'error.log')
  writeFileSync(configFile, renderNginxConfig(options))
  const args = ['-p', prefix, '-c', configFile, ...keptEnvironment()]
  await run(nginx, ['-t', '-q', ...args]).catch((error: Error) => {
    throw new Error(`nginx rejected ${configFile}: ${nginxMessage(error)}`)
  })
  await run(nginx, args).catch((error: Error) => {
    throw new Error(error.message.includes('Address already in use') ? portInUse(port) : `nginx did not start: ${nginxMessage(error)}; see ${errorLog}`)
  })
  try {
    await waitFor('nginx', async () => readPid(pidFile) !== undefined && (await isPortOpen(port, host)), 60_000)
  } catch (error) {
    const pid = readPid(pidFile)
    if (pid) await stopProcessGroup(pid, { signal: 'SIGQUIT', graceMs: 2_000 })
    throw new Error(`${(error as Error).message}; see ${errorLog}`)
  }
  const pid = readPid(pidFile)
  if (!pid) throw new Error(`nginx exited right after it started; see ${errorLog}`)
  return { prefix, configFile, pid, url: `http://${host}:${port}` }
}

/**
 * Graceful stop (`nginx -s quit`: in-flight requests finish), then SIGKILL to the master and its
 * workers if they are still there after `graceMs`. Resolves false when nginx was not running.
 */
export async function stopNginx({ configFile, prefix, pid }: Omit<NginxInstance, 'url'>, graceMs = 10_000): Promise<boolean> {
  if (!isRunning(pid, 'nginx')) return false
  try {
    await run(requireCommand('nginx', 'nginx-light'), ['-p', prefix, '-c', configFile, '-s', 'quit'])
  } catch {
    // the config or pid file is gone: the signal `-s quit` would have sent, by pid
    process.kill(pid, 'SIGQUIT')
  }
  // SIGQUIT again is harmless to an nginx that is already quitting.
  await stopProcessGroup(pid, { signal: 'SIGQUIT', graceMs })
  return true
}
