import { request } from 'undici'
import { auditBatch, auditEvent, formatAudit, type AuditCheck, type AuditResult } from '@commerce/audit'
import { dropDatabase, uuidToBytes, type Pool, type RowDataPacket } from '@commerce/db'
import { defaultGradePolicy } from '@commerce/domain'
import { signToken, type ServiceName } from '@commerce/kit'
import { readRunProgress, type RunProgress } from '@commerce/local/batch'
import { applicantAuthorization, createEventThrough } from '@commerce/local/flood'
import type { MariaDbServer } from '@commerce/local/mariadb'
import { waitFor } from '@commerce/local/process'
import { localAuthSecret } from '@commerce/local/secret'
import { startStack, type Stack } from '@commerce/local/stack'
import { rowByRowWorkerScript } from '../baselines/row-by-row-batch.ts'
import type { Chart, Marker } from '../charts.ts'
import { awaitDeferred, createLiveMix, giveOldCoupons, livePeriod } from '../live-mix.ts'
import { runOpenModel, type OpenModelRequest, type OpenModelResult } from '../open-model.ts'
import { bucketMsFor, latencyOverTime, summarize, throughputOverTime } from '../stats.ts'
import { seededDatabase } from '../scenarios/batch.ts'

// The fault suite's test bed: one seeded database on the suite's own MariaDB server (never the
// shared dev server: case 2 stops it), the whole stack in front of it, open-model traffic that
// remembers every write a client saw acknowledged, and one audit that every case ends with.

export const faultPeriod = livePeriod

export interface FaultBedOptions {
  server: MariaDbServer
  /** The database's name; dropped and recreated. */
  name: string
  users: number
  orders: number
  portBase: number
  httpPort: number
  /** Where the stack's logs and nginx files go. */
  dir: string
  batchWorkers?: number
  /** Settings for every replica on top of the suite's (short leases and heartbeats). */
  env?: Record<string, string>
  /** Settings for one service's replicas on top of those (e.g. a DATABASE_URL through a relay). */
  serviceEnv?: Partial<Record<ServiceName, Record<string, string>>>
  log: (line: string) => void
}

export interface FaultBed {
  url: string
  pool: Pool
  stack: Stack
  server: MariaDbServer
  admin: string
  users: number
  /** An open first-come event the traffic applies to (quota high enough never to close). */
  eventId: number
  log: (line: string) => void
  /** Traffic still running; dispose stops it (a case that failed half-way left it on). */
  running: Set<AbortController>
  /** Stops any traffic and the stack, and drops the database. */
  dispose(): Promise<void>
}

/**
 * Liveness is judged fast (200 ms beats, 1.5 s leases) so a takeover is seconds, not the
 * production 10 s; schedules are off so only the case decides when a run or draw happens.
 */
export const suiteEnv: Record<string, string> = {
  LOG_LEVEL: 'warn',
  BATCH_LEASE_MS: '1500',
  BATCH_POLL_MS: '50',
  BATCH_DAEMON_POLL_MS: '200',
  BATCH_SCHEDULE_ENABLED: 'false',
  EVENT_SCHEDULE_ENABLED: 'false',
  EVENT_FLUSH_MS: '5',
  // A replica stopping drains 1 s, not the production 5 s: nginx's routes are local and static, so
  // a second is enough to finish what it holds; a rolling pass over 8 replicas waits 8 s, not 40.
  SHUTDOWN_DRAIN_MS: '1000',
}

export async function startFaultBed(options: FaultBedOptions): Promise<FaultBed> {
  const { pool, url } = await seededDatabase(options.server.url(options.name), options.name, options.users, options.orders)
  let stack: Stack | undefined
  const running = new Set<AbortController>()
  const dispose = async () => {
    for (const traffic of running) traffic.abort()
    await stack?.stop({ stopDatabase: false })
    await pool.end().catch(() => undefined)
    await dropDatabase(url).catch(() => undefined)
  }
  try {
    await giveOldCoupons(pool, options.users)
    stack = await startStack({
      databaseUrl: url,
      dir: options.dir,
      portBase: options.portBase,
      httpPort: options.httpPort,
      replicas: 2,
      batchWorkers: options.batchWorkers ?? 2,
      heartbeatMs: 200,
      env: { ...suiteEnv, ...options.env },
      serviceEnv: options.serviceEnv,
      // Daemons that also have the row-by-row baselines: the slow naive batch keeps a run going through a case.
      serverScripts: { 'batch-worker': rowByRowWorkerScript },
    })
    const admin = signToken(localAuthSecret(), { userId: 1, role: 'admin' })
    const now = Date.now()
    const eventId = await createEventThrough(stack.url, admin, {
      title: 'fault suite',
      opensAt: new Date(now - 60_000),
      closesAt: new Date(now + 6 * 3_600_000),
      winnerQuota: 1_000_000,
      announceAt: new Date(now + 7 * 3_600_000),
    })
    return { url, pool, stack, server: options.server, admin, users: options.users, eventId, log: options.log, running, dispose }
  } catch (error) {
    await dispose()
    throw error
  }
}

export const trafficKinds = ['profile', 'coupon list', 'redeem', 'place order', 'event apply'] as const
export type TrafficKind = (typeof trafficKinds)[number]
/** Request i is of kind i mod 5: reads and writes of every API service, in equal parts. */
export const kindOf = (index: number): TrafficKind => trafficKinds[index % trafficKinds.length]!
const isWrite = (kind: TrafficKind) => kind === 'redeem' || kind === 'place order' || kind === 'event apply'

/** Every write a client was told succeeded: the audit looks each one up. */
export interface Acknowledged {
  orders: number[]
  redemptions: string[]
  applications: string[]
}

export interface RunningTraffic {
  /** Seconds since the traffic started (the charts' clock). */
  now(): number
  stop(): Promise<TrafficOutcome>
}

export interface TrafficOutcome {
  result: OpenModelResult
  acknowledged: Acknowledged
  /** 202 redemptions, applied once their user's chunk commits. */
  deferred: string[]
}

/**
 * Open-model traffic through nginx until stopped: the live mix (profile, coupon list, redeem,
 * place order) plus first-come applications. `hot` (optional) picks the users of some requests,
 * for a case that targets rows it locked.
 */
export function startTraffic(
  bed: FaultBed,
  { rate, label, userOf }: { rate: number; label: string; userOf?: (index: number, random: () => number) => number },
): RunningTraffic {
  const mix = createLiveMix(bed.users, label)
  const acknowledged: Acknowledged = { orders: [], redemptions: [], applications: [] }
  const stop = new AbortController()
  bed.running.add(stop)
  const started = performance.now()
  // Phones unique per request (per run of the suite too): every 201 is a new entry.
  const phoneBase = 10_000_000 + (Date.now() % 80_000_000)
  const secret = localAuthSecret()
  const build = (index: number): OpenModelRequest => {
    const kind = kindOf(index)
    if (kind === 'event apply') {
      const phone = `010${String(phoneBase + index).slice(-8)}`
      return {
        method: 'POST',
        path: `/events/${bed.eventId}/applications`,
        headers: { 'content-type': 'application/json', authorization: applicantAuthorization(phoneBase + index, secret) },
        body: JSON.stringify({ name: `fault ${index}`, phone }),
      }
    }
    const user = userOf ? userOf(index, mix.randomUser) : mix.randomUser()
    return mix.request(trafficKinds.indexOf(kind), user)
  }
  const onResponse = (index: number, status: number, body: string) => {
    const kind = kindOf(index)
    if (kind === 'redeem' && (status === 200 || status === 202)) acknowledged.redemptions.push((JSON.parse(body) as { redemptionId: string }).redemptionId)
    if (kind === 'redeem') mix.onRedeemResponse(status, body)
    if (kind === 'place order' && status === 201) acknowledged.orders.push((JSON.parse(body) as { id: number }).id)
    if (kind === 'event apply' && status === 201) acknowledged.applications.push((JSON.parse(body) as { applicationId: string }).applicationId)
  }
  // Many clients, as nginx limits each address (the traffic's applications are people's).
  const running = runOpenModel({
    origin: bed.stack.url,
    rate,
    durationSec: 3_600,
    connections: 128,
    clients: 64,
    request: build,
    onResponse,
    signal: stop.signal,
  })
  return {
    now: () => (performance.now() - started) / 1000,
    async stop() {
      stop.abort()
      bed.running.delete(stop)
      return { result: await running, acknowledged, deferred: mix.deferredIds }
    },
  }
}

/** What the clients saw, over all requests or a window of them. */
export interface ClientFigures {
  requests: number
  /** 5xx and network errors (timeouts, resets). */
  errors: number
  status503: number
  networkErrors: number
  /** Errors per request kind, e.g. { 'place order': 3 }. */
  errorsByKind: Record<string, number>
  /** Errors per status (0 = network error). */
  errorsByStatus: Record<string, number>
  p50: number
  p99: number
  max: number
}

type Sample = OpenModelResult['samples'][number]

export function clientFigures(samples: readonly Sample[]): ClientFigures {
  const failed = samples.filter((s) => s.status === 0 || s.status >= 500)
  const errorsByKind: Record<string, number> = {}
  const errorsByStatus: Record<string, number> = {}
  for (const s of failed) {
    errorsByKind[kindOf(s.index)] = (errorsByKind[kindOf(s.index)] ?? 0) + 1
    errorsByStatus[s.status] = (errorsByStatus[s.status] ?? 0) + 1
  }
  const latency = summarize(samples.map((s) => s.ms))
  return {
    requests: samples.length,
    errors: failed.length,
    status503: samples.filter((s) => s.status === 503).length,
    networkErrors: samples.filter((s) => s.status === 0).length,
    errorsByKind,
    errorsByStatus,
    p50: latency.p50,
    p99: latency.p99,
    max: latency.max,
  }
}

/** Errors on reads, which nginx may retry on another replica (writes it never sends twice). */
export const readErrors = (figures: ClientFigures) => trafficKinds.filter((k) => !isWrite(k)).reduce((sum, k) => sum + (figures.errorsByKind[k] ?? 0), 0)

export const formatFigures = (f: ClientFigures) =>
  `${f.requests.toLocaleString('en')} requests, ${f.errors} errors ${
    f.errors
      ? ` (${Object.entries(f.errorsByStatus)
          .map(([status, n]) => `${n} × ${status === '0' ? 'network' : status}`)
          .join(', ')}; ${Object.entries(f.errorsByKind)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ')})`
      : ''
  }, p50 ${f.p50.toFixed(1)} ms, p99 ${f.p99.toFixed(1)} ms, max ${f.max.toFixed(0)} ms`

/** Asks the batch-worker daemons for a run (admin, through nginx); resolves with its id. */
export async function requestRun(bed: FaultBed, strategy?: string): Promise<number> {
  const response = await request(`${bed.stack.url}/ops/batch-worker/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bed.admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ period: faultPeriod, ...(strategy ? { strategy } : {}) }),
  })
  const text = await response.body.text()
  if (response.statusCode !== 202) throw new Error(`the run request answered ${response.statusCode}: ${text}`)
  return (JSON.parse(text) as { id: number }).id
}

/** Polls the run until `done` says so (or it ends); rejects after `timeoutMs`. */
export async function waitForRun(pool: Pool, runId: number, done: (run: RunProgress) => boolean, timeoutMs: number, what: string): Promise<RunProgress> {
  let latest: RunProgress | null = null
  await waitFor(
    what,
    async () => {
      latest = await readRunProgress(pool, { id: runId }).catch(() => null)
      return latest !== null && (done(latest) || latest.status === 'COMPLETED' || latest.status === 'FAILED')
    },
    timeoutMs,
    25,
  )
  return latest!
}

export const completedRun = (pool: Pool, runId: number, timeoutMs = 120_000) => waitForRun(pool, runId, () => false, timeoutMs, `run ${runId} to complete`)

/** The chunk a batch-worker (by instance id) holds unfinished (CLAIMED) in the run. */
export async function heldChunk(pool: Pool, runId: number, owner: { instanceId: string }): Promise<{ chunkNo: number; epoch: number } | undefined> {
  const [rows] = await pool.query<RowDataPacket[]>(
    "SELECT chunk_no, epoch FROM step_execution_log WHERE run_id = ? AND owner = UNHEX(REPLACE(?, '-', '')) AND status = 'CLAIMED' ORDER BY chunk_no LIMIT 1",
    [runId, owner.instanceId],
  )
  const row = rows[0]
  return row ? { chunkNo: Number(row.chunk_no), epoch: Number(row.epoch) } : undefined
}

/** The chunk's current epoch and status: a takeover raises the epoch. */
export async function chunkState(pool: Pool, runId: number, chunkNo: number): Promise<{ epoch: number; status: string }> {
  const [[row]] = await pool.query<RowDataPacket[]>('SELECT epoch, status FROM step_execution_log WHERE run_id = ? AND chunk_no = ?', [runId, chunkNo])
  return { epoch: Number(row?.epoch), status: String(row?.status) }
}

/** A replica's own counter from its /metrics (straight to its port, not through nginx). */
export async function replicaCounter(port: number, name: string): Promise<number> {
  const response = await request(`http://127.0.0.1:${port}/metrics`, { headersTimeout: 5_000, bodyTimeout: 5_000 })
  const text = await response.body.text()
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((sum, match) => sum + Number(match[1]), 0)
}

/** /ready of one replica, straight to its port: 200, 503 with the reason it gives, or 0 when it does not answer within a second. */
export async function readyAnswer(port: number): Promise<{ status: number; reason: string }> {
  try {
    const response = await request(`http://127.0.0.1:${port}/ready`, { headersTimeout: 1_000, bodyTimeout: 1_000, reset: true })
    const text = await response.body.text()
    return { status: response.statusCode, reason: response.statusCode === 200 ? 'ready' : ((JSON.parse(text) as { message?: string }).message ?? text) }
  } catch (error) {
    return { status: 0, reason: (error as Error).message }
  }
}

export async function readyStatus(port: number): Promise<number> {
  return (await readyAnswer(port)).status
}

/**
 * Restarts a replica and resolves once nginx routes to the fresh process, not merely once it is
 * ready: nginx sits a failed server out for fail_timeout (2 s) after a refused connect, and
 * taking its sibling down inside that window leaves the service no live upstream (502).
 */
export async function restartIntoRotation(bed: FaultBed, service: ServiceName, index: number): Promise<void> {
  const fresh = await bed.stack.restartReplica(service, index)
  await routedTo(bed, service, fresh.instanceId!, `the fresh ${service} #${index}`)
}

/** Resolves once nginx routes a request for `service` to the process with that instance id. */
export async function routedTo(bed: FaultBed, service: ServiceName, instanceId: string, what: string): Promise<void> {
  await waitFor(
    `nginx to route to ${what}`,
    async () => {
      const response = await request(`${bed.stack.url}/ops/${service}/health`, { headersTimeout: 2_000, bodyTimeout: 2_000 }).catch(() => null)
      if (!response) return false
      const text = await response.body.text()
      return response.statusCode === 200 && (JSON.parse(text) as { instanceId?: string }).instanceId === instanceId
    },
    60_000,
    50,
  )
}

export const apiServices: ServiceName[] = ['user-api', 'coupon-api', 'event-apply']

/**
 * DESIGN §9 after a case: every write a client saw acknowledged is stored (orders,
 * redemptions, applications), every 202 resolved, the event's entries unique and, when the
 * case ran the monthly batch, the whole batch audit (grades, coupons exactly once, chunks).
 */
export async function auditCase(bed: FaultBed, outcome: TrafficOutcome, { batch }: { batch: boolean }): Promise<AuditResult & { text: string }> {
  const { pool } = bed
  const checks: AuditCheck[] = []
  const deferred = await awaitDeferred(pool, outcome.deferred)
  checks.push({
    name: '3. every 202 redemption resolved',
    ok: deferred.pendingLeft === 0,
    detail: `${deferred.count} × 202, ${deferred.pendingLeft} still PENDING`,
  })

  const stored = async (table: 'orders' | 'coupon_redemptions', ids: unknown[]) => {
    let found = 0
    for (let i = 0; i < ids.length; i += 1_000) {
      const [[row]] = await pool.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${table} WHERE id IN (?)`, [ids.slice(i, i + 1_000)])
      found += Number(row?.n)
    }
    return found
  }
  const { orders, redemptions } = outcome.acknowledged
  const ordersFound = orders.length ? await stored('orders', orders) : 0
  checks.push({
    name: 'every acknowledged (201) order is stored',
    ok: ordersFound === orders.length,
    detail: `${orders.length} acknowledged, ${ordersFound} stored`,
  })
  const redemptionsFound = redemptions.length ? await stored('coupon_redemptions', redemptions.map(uuidToBytes)) : 0
  checks.push({
    name: 'every acknowledged (200/202) redemption is stored',
    ok: redemptionsFound === redemptions.length,
    detail: `${redemptions.length} acknowledged, ${redemptionsFound} stored`,
  })

  const event = await auditEvent(pool, { eventId: bed.eventId, acknowledged: outcome.acknowledged.applications })
  checks.push(...event.checks)
  if (batch) checks.push(...(await auditBatch(pool, { period: faultPeriod, policy: defaultGradePolicy })).checks)
  const result = { ok: checks.every((c) => c.ok), checks }
  return { ...result, text: formatAudit(result) }
}

/** Latency and responses over time, injections marked: the report's two charts per case. */
export function caseCharts(title: string, samples: readonly Sample[], markers: Marker[]): Chart[] {
  const bucketMs = bucketMsFor([...samples])
  return [
    {
      kind: 'timeseries',
      title: `${title}: latency`,
      caption: `p50/p90/p99 per ${bucketMs} ms (open model: latency from the scheduled arrival); dashed lines are injections.`,
      xLabel: 'seconds since the traffic started',
      yLabel: 'latency ms',
      yScale: 'log',
      series: latencyOverTime(
        samples.filter((s) => s.status !== 0),
        bucketMs,
      ),
      markers,
    },
    {
      kind: 'timeseries',
      title: `${title}: responses by status`,
      xLabel: 'seconds since the traffic started',
      yLabel: 'responses / s',
      series: throughputOverTime([...samples], bucketMs),
      markers,
    },
  ]
}

/** mulberry32: the same seed, the same fault moments and victims. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}
