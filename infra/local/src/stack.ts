import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'undici'
import { databaseUrl as defaultDatabaseUrl, migrateDatabase } from '@commerce/db'
import type { ServiceName } from '@commerce/kit'
import { ensureDatabaseServer } from './database.ts'
import { galeraCluster, type GaleraCluster } from './galera.ts'
import { stopLocalDb } from './mariadb.ts'
import { startNginx, stopNginx, type NginxInstance } from './nginx.ts'
import { localDir, repoRoot } from './paths.ts'
import { isAlive, isPortOpen, isRunning, nodeArgsFor, sleep, stopProcessGroup } from './process.ts'
import { localAuthSecret } from './secret.ts'

/** Replica i of a service listens on portBase + offset + i (default base 3000: user-api 3100, 3101, …). */
const portOffsets: Record<ServiceName, number> = {
  'user-api': 100,
  'coupon-api': 200,
  'event-apply': 300,
  'batch-worker': 400,
}
const apiServices = ['user-api', 'coupon-api', 'event-apply'] as const satisfies readonly ServiceName[]
/** Replicas of one service share a block of 100 ports. */
const maxReplicas = 99
/** A replica gets SIGKILL this long after SIGTERM: the services' default shutdown grace plus slack. */
const replicaStopGraceMs = 12_000

export interface StackOptions {
  /** Replicas of each API service (user-api, coupon-api, event-apply). */
  replicas?: number
  /** batch-worker daemons. */
  batchWorkers?: number
  /** nginx listens on 127.0.0.1:httpPort. */
  httpPort?: number
  /** Shifts every replica port (see portOffsets), so a second stack (tests) does not clash. */
  portBase?: number
  /** Use this database; the stack then neither starts nor stops a database server. */
  databaseUrl?: string
  /**
   * A 3-node Galera cluster on loopback instead of one MariaDB (started unless it runs, stopped
   * with the stack), multi-writer: replica i of each service writes through node (i mod 3) + 1.
   */
  galera?: boolean
  /** Membership heartbeat of every replica (HEARTBEAT_MS); the services' default otherwise. */
  heartbeatMs?: number
  /** Extra settings for every replica (e.g. LOG_LEVEL=warn for a benchmark). */
  env?: Record<string, string>
  /** Extra settings for the replicas of one service, over `env` (e.g. its own DATABASE_URL). */
  serviceEnv?: Partial<Record<ServiceName, Record<string, string>>>
  /**
   * Runs this entry (relative to the repository, or absolute) instead of the compiled `services/<service>/dist/server.js`
   * for every replica of the service, e.g. a benchmark's baseline build of it or an earlier commit's.
   */
  serverScripts?: Partial<Record<ServiceName, string>>
  /**
   * How long each replica may take to answer 200 on /ready: a bound that catches a replica that will
   * never be ready, not a slow start (two stacks booting beside a fault suite took over 30 s).
   */
  readyTimeoutMs?: number
  /** Where the state file, logs and nginx's files go (default .local); tests use their own folder. */
  dir?: string
  /** Narrates each step, one line at a time. */
  onProgress?: (line: string) => void
  /** Aborting stops everything started so far; startStack then rejects with the abort reason. */
  signal?: AbortSignal
}

export interface Replica {
  service: ServiceName
  index: number
  port: number
  pid: number
  /** The entry it runs, relative to the repository or absolute. */
  script: string
  /** Its id in was_instances, known once it answered /ready. */
  instanceId?: string
  /** Milliseconds from its spawn to its first 200 on /ready (the startup the stack waited for). */
  readyAfterMs?: number
  log: string
}

export interface StopSummary {
  replicas: number
  nginx: boolean
  database: boolean
}

export interface Stack {
  /** nginx, e.g. http://127.0.0.1:8080 */
  url: string
  databaseUrl: string
  readonly replicas: readonly Replica[]
  /** nginx's master process (its workers are its children). */
  readonly nginxPid: number | undefined
  /** Sends `signal` to one replica (default SIGKILL: a crash) and resolves once it has exited. */
  killReplica(service: ServiceName, index: number, signal?: NodeJS.Signals): Promise<void>
  /**
   * A fresh process (new instance id) for that replica, on the same port; resolves once it is ready.
   * `launcher` prefixes its command (e.g. `env LD_PRELOAD=…libfaketime… FAKETIME=+3s` for a replica on
   * a clock of its own; not the faketime wrapper, which does not pass SIGTERM on).
   */
  restartReplica(service: ServiceName, index: number, options?: { launcher?: readonly string[] }): Promise<Replica>
  /** Stops nginx, every replica and (unless stopDatabase is false) the local MariaDB if this stack started it. */
  stop(options?: { stopDatabase?: boolean }): Promise<StopSummary>
}

/** What `.local/stack.json` holds, so `stack:down` (another process) can stop what `stack:up` started. */
interface StackState {
  url: string
  databaseUrl: string
  /** True when the stack started the local MariaDB, which it then stops again. */
  startedDatabase: boolean
  /** The Galera cluster's folder and ports, when the stack runs on one (it then stops it again). */
  galera?: { dir: string; portBase: number; urls: string[] }
  nginx?: Omit<NginxInstance, 'url'>
  replicas: Replica[]
}

const stateFileIn = (dir: string) => join(dir, 'stack.json')
const replicaName = ({ service, index }: Pick<Replica, 'service' | 'index'>) => `${service} #${index}`
const serverScript = (service: ServiceName) => `services/${service}/dist/server.js`
const isReplicaRunning = (replica: Replica) => isRunning(replica.pid, replica.script)

function integerIn(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got ${value}`)
  return value
}

function readState(dir: string): StackState | undefined {
  const file = stateFileIn(dir)
  if (!existsSync(file)) return undefined
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StackState
  } catch {
    throw new Error(`${file} is damaged: stop any stack processes by hand, then delete it`)
  }
}

function writeState(dir: string, state: StackState): void {
  writeFileSync(stateFileIn(dir), `${JSON.stringify(state, null, 2)}\n`)
}

/** The last line a replica logged, e.g. its one-line boot error. */
function lastLogLine(log: string): string {
  const lines = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []
  return (lines.at(-1) ?? '').slice(0, 300)
}

/** The instance id a replica reports once it is ready, or undefined while it is not. */
async function readyInstanceId(port: number): Promise<string | undefined> {
  try {
    // reset: no keep-alive socket is left to hold this process open after the stack is up.
    const { statusCode, body } = await request(`http://127.0.0.1:${port}/ready`, { reset: true, headersTimeout: 1_000, bodyTimeout: 1_000 })
    if (statusCode !== 200) {
      await body.dump()
      return undefined
    }
    const { instanceId } = (await body.json()) as { instanceId?: unknown }
    return typeof instanceId === 'string' ? instanceId : undefined
  } catch {
    return undefined
  }
}

/**
 * One replica as a detached process (its own process group, so a Ctrl-C of the parent does not
 * reach it and the stack decides when it stops), logging to its own file.
 */
function spawnReplica(replica: Omit<Replica, 'pid'>, env: Record<string, string>, append: boolean, launcher: readonly string[] = []): ChildProcess {
  const log = openSync(replica.log, append ? 'a' : 'w')
  const [command, ...args] = [...launcher, process.execPath, ...nodeArgsFor(replica.script)]
  try {
    return spawn(command!, args, {
      cwd: repoRoot,
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, ...env, HOST: '127.0.0.1', PORT: String(replica.port) },
    })
  } finally {
    closeSync(log)
  }
}

/** Resolves with the replica's instance id once /ready answers 200; rejects early if the process exits. */
async function waitUntilReady(replica: Replica, child: ChildProcess, timeoutMs: number, signal?: AbortSignal): Promise<string> {
  let exit: string | undefined
  const onExit = (code: number | null, killedBy: NodeJS.Signals | null) => {
    exit = killedBy ? `was killed by ${killedBy}` : `exited with code ${code}`
  }
  child.once('exit', onExit)
  try {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      signal?.throwIfAborted()
      if (exit) throw new Error(`${replicaName(replica)} ${exit} before it was ready (${lastLogLine(replica.log)}); see ${replica.log}`)
      const instanceId = await readyInstanceId(replica.port)
      if (instanceId) return instanceId
      await sleep(100)
    }
    throw new Error(`${replicaName(replica)} was not ready within ${timeoutMs / 1000} s; see ${replica.log}`)
  } finally {
    child.off('exit', onExit)
  }
}

async function stopReplicas(replicas: readonly Replica[]): Promise<number> {
  const running = replicas.filter(isReplicaRunning)
  // SIGTERM: each replica answers 503 to new requests, leaves was_instances and closes its pools.
  await Promise.all(running.map((replica) => stopProcessGroup(replica.pid, { graceMs: replicaStopGraceMs })))
  return running.length
}

/** nginx first, so no request reaches a replica that is shutting down; then the replicas; then the database. */
async function stopFromState(state: StackState, stopDatabase: boolean, progress: (line: string) => void): Promise<StopSummary> {
  const summary: StopSummary = { replicas: 0, nginx: false, database: false }
  if (state.nginx) {
    summary.nginx = await stopNginx(state.nginx)
    if (summary.nginx) progress('nginx stopped')
  }
  summary.replicas = await stopReplicas(state.replicas)
  if (summary.replicas > 0) progress(`${summary.replicas} replicas stopped`)
  if (stopDatabase && state.galera && state.startedDatabase) {
    summary.database = (await stackGalera(state.galera).stop()) > 0
    if (summary.database) progress('Galera cluster stopped')
  } else if (stopDatabase && state.startedDatabase) {
    summary.database = await stopLocalDb()
    if (summary.database) progress('local MariaDB stopped')
  }
  return summary
}

/** A replica about to be spawned: everything but its pid. */
type Slot = Omit<Replica, 'pid'>

/** What the steps after startup need to run, restart and stop the stack's replicas. */
interface StackContext {
  state: StackState
  dir: string
  readyTimeoutMs: number
  replicaEnv: (slot: Pick<Replica, 'service' | 'index'>) => Record<string, string>
  progress: (line: string) => void
}

/**
 * Starts the local topology (DESIGN §2): the database server (unless `databaseUrl` is given), the
 * migrate job, N replicas per API service and the batch-worker daemons, each waited for on /ready,
 * then nginx in front. Any failure stops everything started so far and rejects with one line.
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const httpPort = integerIn('httpPort', options.httpPort ?? 8080, 1, 65_535)
  const dir = options.dir ?? localDir
  const progress = options.onProgress ?? (() => undefined)
  const logDir = join(dir, 'logs')
  const earlier = refuseIfRunning(dir)
  const slots = replicaSlots(options, logDir)
  await refuseBusyPorts(slots, httpPort)

  const state: StackState = { url: `http://127.0.0.1:${httpPort}`, databaseUrl: '', startedDatabase: false, replicas: [] }
  const stack: StackContext = { state, dir, readyTimeoutMs: options.readyTimeoutMs ?? 120_000, replicaEnv: replicaSettings(options, state), progress }
  // Failing or aborting ends the other replicas' waits too.
  const startup = new AbortController()
  const signal = options.signal ? AbortSignal.any([options.signal, startup.signal]) : startup.signal
  mkdirSync(logDir, { recursive: true })
  try {
    Object.assign(state, options.galera ? await startGalera(dir, state, progress) : await connectDatabase(options.databaseUrl, earlier, progress))
    writeState(dir, state)
    signal.throwIfAborted()
    await runMigrateJob(state.databaseUrl, progress)
    signal.throwIfAborted()
    const spawnedAt = performance.now()
    const spawned = slots.map((slot) => launchReplica(stack, slot))
    await Promise.all(
      spawned.map(async ({ replica, child }) => {
        replica.instanceId = await waitUntilReady(replica, child, stack.readyTimeoutMs, signal)
        replica.readyAfterMs = Math.round(performance.now() - spawnedAt)
        progress(`${replicaName(replica)} ready ${(replica.readyAfterMs / 1000).toFixed(1)} s after spawn`)
      }),
    )
    writeState(dir, state)
    state.nginx = await startFrontDoor(join(dir, 'nginx'), httpPort, state.replicas)
    writeState(dir, state)
    progress(`nginx listening on ${state.url}`)
  } catch (error) {
    startup.abort()
    progress('startup failed: stopping what was started')
    await stopFromState(state, true, progress)
    rmSync(stateFileIn(dir), { force: true })
    throw error
  }
  return stackHandle(stack)
}

/** Returns the state an earlier stack left in `dir`; refuses if that stack still runs. */
function refuseIfRunning(dir: string): StackState | undefined {
  const earlier = readState(dir)
  if (earlier && (earlier.replicas.some(isReplicaRunning) || (earlier.nginx && isRunning(earlier.nginx.pid, 'nginx')))) {
    throw new Error(`a local stack is already running (${stateFileIn(dir)}): stop it first with \`npm run stack:down\``)
  }
  return earlier
}

/** Every replica the options ask for: N per API service, then the batch-worker daemons. */
function replicaSlots(options: StackOptions, logDir: string): Slot[] {
  const replicasPerApi = integerIn('replicas', options.replicas ?? 2, 1, maxReplicas)
  const batchWorkers = integerIn('batchWorkers', options.batchWorkers ?? 1, 0, maxReplicas)
  const portBase = integerIn('portBase', options.portBase ?? 3000, 1, 65_535 - 500)
  return [
    ...apiServices.flatMap((service) => Array.from({ length: replicasPerApi }, (_, index) => ({ service, index }))),
    ...Array.from({ length: batchWorkers }, (_, index) => ({ service: 'batch-worker' as const, index })),
  ].map(({ service, index }) => ({
    service,
    index,
    port: portBase + portOffsets[service] + index,
    script: options.serverScripts?.[service] ?? serverScript(service),
    log: join(logDir, `${service}-${index}.log`),
  }))
}

/** Every port is checked before anything starts, so a clash leaves nothing behind. */
async function refuseBusyPorts(slots: readonly Slot[], httpPort: number): Promise<void> {
  for (const slot of slots) {
    if (await isPortOpen(slot.port)) {
      throw new Error(`port ${slot.port} (${replicaName(slot)}) is in use: stop what holds it, or \`npm run stack:down\` if it is an earlier stack`)
    }
  }
  if (await isPortOpen(httpPort)) throw new Error(`port ${httpPort} (nginx) is in use: stop what holds it, or pick another port (--port)`)
}

/** Every replica of this stack gets the same settings, restarts included; on Galera, replica i its node. */
function replicaSettings(options: StackOptions, state: StackState): StackContext['replicaEnv'] {
  const authSecret = localAuthSecret()
  return ({ service, index }) => ({
    DATABASE_URL: state.galera ? (state.galera.urls[index % state.galera.urls.length] ?? state.databaseUrl) : state.databaseUrl,
    AUTH_SECRET: authSecret,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    ...(options.heartbeatMs === undefined ? {} : { HEARTBEAT_MS: String(options.heartbeatMs) }),
    ...options.env,
    ...options.serviceEnv?.[service],
  })
}

/** The stack's Galera cluster: its own folder, nodes on ports 3601-3603 (group communication 3611-3613, state transfers 3621-3633), above every replica's. */
const stackGalera = ({ dir, portBase }: { dir: string; portBase: number }): GaleraCluster =>
  galeraCluster({ dir, portBase, bufferPoolSize: '1G', logFileSize: '256M' })

async function startGalera(
  dir: string,
  state: StackState,
  progress: (line: string) => void,
): Promise<Pick<StackState, 'databaseUrl' | 'startedDatabase' | 'galera'>> {
  const galera = { dir: join(dir, 'galera'), portBase: 3600 }
  const cluster = stackGalera(galera)
  const urls = cluster.urls('commerce')
  // Recorded before the nodes start, so a start that fails half-way still stops what it started.
  const alreadyRunning = cluster.nodes.some((node) => node.server.pid() !== undefined)
  Object.assign(state, { galera: { ...galera, urls }, startedDatabase: !alreadyRunning })
  writeState(dir, state)
  const { started, bootstrapped } = await cluster.start()
  progress(
    `Galera cluster: 3 nodes Synced on ports ${cluster.nodes.map((node) => node.server.port).join(', ')}${started ? ` (started ${started}${bootstrapped ? `, bootstrapped from ${bootstrapped}` : ''})` : ''}`,
  )
  return { databaseUrl: urls[0]!, startedDatabase: !alreadyRunning, galera: { ...galera, urls } }
}

/** The given database, or the local MariaDB (started unless it runs already). */
async function connectDatabase(
  databaseUrl: string | undefined,
  earlier: StackState | undefined,
  progress: (line: string) => void,
): Promise<Pick<StackState, 'databaseUrl' | 'startedDatabase'>> {
  if (databaseUrl) {
    progress(`database ${new URL(databaseUrl).host}`)
    return { databaseUrl, startedDatabase: false }
  }
  const localDb = await ensureDatabaseServer()
  const url = defaultDatabaseUrl()
  const where = new URL(url).host
  progress(localDb ? `local MariaDB ${localDb.started ? 'started' : 'already running'} on ${where}` : `database ${where} (DATABASE_URL)`)
  // A stack that died without `stack:down` may have started the MariaDB that is still running.
  return { databaseUrl: url, startedDatabase: Boolean(localDb?.started || (localDb && earlier?.startedDatabase)) }
}

async function runMigrateJob(databaseUrl: string, progress: (line: string) => void): Promise<void> {
  const { host, pathname } = new URL(databaseUrl)
  await migrateDatabase(databaseUrl).catch((error: Error) => {
    throw new Error(`migrate job failed on ${host}${pathname}: ${error.message}`)
  })
  progress(`migrations applied to ${host}${pathname}`)
}

/** Spawns one replica and records it (pid first, instance id once ready) in the state file. */
function launchReplica(stack: StackContext, slot: Slot): { replica: Replica; child: ChildProcess } {
  const child = spawnReplica(slot, stack.replicaEnv(slot), false)
  if (child.pid === undefined) throw new Error(`${replicaName(slot)} could not be started; see ${slot.log}`)
  child.unref()
  const replica: Replica = { ...slot, pid: child.pid }
  stack.state.replicas.push(replica)
  writeState(stack.dir, stack.state)
  stack.progress(`${replicaName(slot)} starting on :${slot.port} (pid ${child.pid})`)
  return { replica, child }
}

/** nginx in front of every ready replica, one upstream per service. */
async function startFrontDoor(prefix: string, port: number, replicas: readonly Replica[]): Promise<StackState['nginx']> {
  const upstreamsOf = (service: ServiceName) => replicas.filter((replica) => replica.service === service).map((replica) => `127.0.0.1:${replica.port}`)
  const nginx = await startNginx({
    prefix,
    port,
    upstreams: {
      'user-api': upstreamsOf('user-api'),
      'coupon-api': upstreamsOf('coupon-api'),
      'event-apply': upstreamsOf('event-apply'),
      'batch-worker': upstreamsOf('batch-worker'),
    },
  })
  return { prefix: nginx.prefix, configFile: nginx.configFile, pid: nginx.pid }
}

/** The running stack: its replicas can be killed and restarted until it is stopped. */
function stackHandle({ state, dir, readyTimeoutMs, replicaEnv, progress }: StackContext): Stack {
  function find(service: ServiceName, index: number): Replica {
    const replica = state.replicas.find((candidate) => candidate.service === service && candidate.index === index)
    if (!replica) throw new Error(`the stack has no ${replicaName({ service, index })}`)
    return replica
  }
  let stopping = false

  return {
    url: state.url,
    databaseUrl: state.databaseUrl,
    get replicas() {
      return state.replicas.map((replica) => ({ ...replica }))
    },
    get nginxPid() {
      return state.nginx?.pid
    },
    async killReplica(service, index, killSignal = 'SIGKILL') {
      const replica = find(service, index)
      if (!isReplicaRunning(replica)) return
      // The whole group: tsx's esbuild helper goes with the replica, as in a real crash.
      process.kill(-replica.pid, killSignal)
      const deadline = Date.now() + replicaStopGraceMs
      // Until the pid is gone, not just its command line: an exiting process reads an empty
      // cmdline (isReplicaRunning false) while it still exists, and callers check the pid.
      while (isAlive(replica.pid)) {
        if (Date.now() > deadline) throw new Error(`${replicaName(replica)} (pid ${replica.pid}) is still running after ${killSignal}`)
        await sleep(20)
      }
    },
    async restartReplica(service, index, { launcher } = {}) {
      const replica = find(service, index)
      await stopProcessGroup(replica.pid, { graceMs: replicaStopGraceMs })
      // stop() may have run meanwhile: a replica started now would outlive the stack.
      if (stopping) throw new Error(`${replicaName(replica)} not restarted: the stack is stopping`)
      const child = spawnReplica(replica, replicaEnv(replica), true, launcher)
      if (child.pid === undefined) throw new Error(`${replicaName(replica)} could not be started; see ${replica.log}`)
      child.unref()
      replica.pid = child.pid
      delete replica.instanceId
      writeState(dir, state)
      const spawnedAt = performance.now()
      replica.instanceId = await waitUntilReady(replica, child, readyTimeoutMs)
      replica.readyAfterMs = Math.round(performance.now() - spawnedAt)
      writeState(dir, state)
      progress(`${replicaName(replica)} restarted on :${replica.port} (pid ${replica.pid})`)
      return { ...replica }
    },
    async stop({ stopDatabase = true } = {}) {
      stopping = true
      const summary = await stopFromState(state, stopDatabase, progress)
      rmSync(stateFileIn(dir), { force: true })
      return summary
    },
  }
}

/**
 * Stops the stack recorded in `<dir>/stack.json` by `startStack` in another process (`stack:down`),
 * the local MariaDB included when that stack started it. Resolves undefined when no stack is recorded.
 */
export async function stopStackFromState({
  dir = localDir,
  onProgress = () => undefined,
}: {
  dir?: string
  onProgress?: (line: string) => void
} = {}): Promise<StopSummary | undefined> {
  const state = readState(dir)
  if (!state) return undefined
  const summary = await stopFromState(state, true, onProgress)
  rmSync(stateFileIn(dir), { force: true })
  return summary
}
