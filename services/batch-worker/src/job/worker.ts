import { setTimeout as sleep } from 'node:timers/promises'
import { Registry } from 'prom-client'
import {
  claimChunk,
  fenceDone,
  mergeLoadReports,
  pickClaimable,
  readReportedLoad,
  releaseChunk,
  renewLease,
  type ChunkOwnership,
  type Membership,
} from '@commerce/cluster'
import { isDeadlock, type ChunkEventKind, type Pool } from '@commerce/db'
import type { GradePolicy } from '@commerce/domain'
import { databaseClock } from '../clock.ts'
import { openRun, parseRunPeriod } from './admission.ts'
import { claimKind, createChunkEventRepository, type ChunkEventRepository } from './chunk-events.ts'
import { builtInStrategies, strategyNamed, type ChunkStrategies, type ChunkStrategy } from './chunks.ts'
import { createBatchMetrics, type BatchMetrics } from './metrics.ts'
import { createPacer, type Pacer, type PacingSettings, type PacingSignals, type PacingState } from './pacing.ts'
import { createRunRepository, gradeStep, type RunRow } from './runs.ts'

export interface WorkerSettings {
  chunkSize: number
  /** Users per planning statement (job/runs.ts). */
  planSliceUsers: number
  /** Chunks this worker processes at once (each on its own batch connection). */
  concurrency: number
  leaseMs: number
  planLeaseMs: number
  /** ≥ 2 × the API guard's refresh interval (DESIGN §6.2 step 3). */
  publishDelayMs: number
  pollMs: number
  policy: GradePolicy
  /** Periods are calendar months of this time zone. */
  timeZone: string
  /** How hard the batch pushes, by what the live APIs report (job/pacing.ts). */
  pacing: PacingSettings & {
    /** An API replica's load report counts for this long (a replica gone stops counting). */
    reportsFreshForMs: number
  }
}

export interface WorkerOptions {
  pool: Pool
  membership: Membership
  period: string
  /** The strategy a run this worker creates records; joining a run, the worker follows the run's. */
  strategy: string
  /** The strategies this worker can process (default: the service's own, `bulk`). */
  strategies?: ChunkStrategies
  settings: WorkerSettings
  /** When this worker creates the run: an operator's force of an older period, and why. */
  request?: { force?: boolean; reason?: string }
  signal?: AbortSignal
  metrics?: BatchMetrics
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void }
}

export interface WorkerReport {
  workerId: string
  runId: number
  period: string
  strategy: string
  status: RunRow['status']
  planned: boolean
  chunksDone: number
  chunksStolen: number
  fencingRejections: number
  targets: number
  couponsIssued: number
  couponsRevoked: number
  redemptionsApplied: number
  /** The pace at the end of this worker's share, and how long its lanes waited for it. */
  pacing: PacingState & { restedMs: number }
  ms: number
}

const maxConsecutiveFailures = 30

/** The services whose latency the batch yields to. */
const liveApiServices = ['user-api', 'coupon-api', 'event-apply']
/** Fewer requests than this in the APIs' reported windows (all replicas together): no p99 worth yielding to. */
const minReportedRequests = 50

/** The live API replicas' p99 over their fresh reports, merged (ms); null when they answered too few requests to tell. */
async function readApiP99Ms(pool: Pool, freshForMs: number): Promise<number | null> {
  const merged = mergeLoadReports(await readReportedLoad(pool, { services: liveApiServices, freshForMs }))
  return merged.p99Us === null || merged.requests < minReportedRequests ? null : merged.p99Us / 1000
}

/** `pool` whose connections call `onProgress` each time one of their statements completes. */
function withProgress(pool: Pool, onProgress: () => void): Pool {
  const tracked = <T>(result: Promise<T>) =>
    result.then((value) => {
      onProgress()
      return value
    })
  const statements = (target: object, name: string | symbol, value: unknown) =>
    (name === 'query' || name === 'execute') && typeof value === 'function'
      ? (...args: unknown[]) => tracked((value as (...a: unknown[]) => Promise<unknown>).apply(target, args))
      : undefined
  return new Proxy(pool, {
    get(target, key, receiver) {
      const direct = statements(target, key, Reflect.get(target, key, receiver))
      if (direct) return direct
      if (key !== 'getConnection') return Reflect.get(target, key, receiver)
      return async () => {
        const conn = await target.getConnection()
        return new Proxy(conn, {
          get(inner, name, innerReceiver) {
            const value = Reflect.get(inner, name, innerReceiver)
            return statements(inner, name, value) ?? (typeof value === 'function' ? value.bind(inner) : value)
          },
        })
      }
    },
  })
}

/** What every step of one worker's run shares: its inputs, its repository, and the report it fills. */
interface WorkerContext {
  pool: Pool
  membership: Membership
  settings: WorkerSettings
  signal: AbortSignal | undefined
  metrics: BatchMetrics
  log: WorkerOptions['log']
  runs: ReturnType<typeof createRunRepository>
  chunkEvents: ChunkEventRepository
  range: ReturnType<typeof parseRunPeriod>
  strategies: ChunkStrategies
  strategyOf: (name: string) => ChunkStrategy
  report: WorkerReport
  /** Created when the run is first seen RUNNING: the pace of this worker's lanes. */
  pacer?: Pacer
  /** Runs one step; database trouble is waited out with backoff and reported as 'failed'. */
  survive: <T>(work: () => Promise<T>) => Promise<T | 'failed'>
}

/**
 * One batch worker's part of a monthly run (DESIGN §6.2), with no coordinator: any number of
 * these, started at any time, converge on one plan and finish it exactly once. Resolves with
 * this worker's share when the run is COMPLETED (or when `signal` aborts, after its current
 * chunks); throws an AppError on bad input (job/admission.ts), or when the database stays unreachable.
 */
export async function runWorker(opts: WorkerOptions): Promise<WorkerReport> {
  const started = performance.now()
  const worker = workerContext(opts)
  let run = await openOrJoin(worker, opts)
  while (!opts.signal?.aborted) {
    worker.report.status = run.status
    if (run.status === 'COMPLETED' || run.status === 'FAILED') break
    // A run recorded with a strategy this worker lacks (a benchmark's baseline, or one a request
    // took over since: admission.ts) is not this worker's to serve.
    worker.strategyOf(run.strategy)
    worker.report.strategy = run.strategy
    const current = run
    await worker.survive(() => advance(worker, current))
    const latest = await worker.survive(() => worker.runs.find(opts.period, opts.settings.publishDelayMs))
    if (latest !== 'failed' && latest) run = latest
  }
  if (worker.pacer) {
    worker.report.pacing = { ...worker.pacer.state(), restedMs: worker.pacer.restedMs() }
    // Best effort: a row left behind is deleted with the member, and the status shows only RUNNING runs' pace.
    if (opts.settings.pacing.enabled) await worker.membership.reportPacing(null).catch(() => undefined)
  }
  worker.report.ms = Math.round(performance.now() - started)
  return worker.report
}

function workerContext(opts: WorkerOptions): WorkerContext {
  const range = parseRunPeriod(opts.period, opts.settings.timeZone)
  const strategies = opts.strategies ?? builtInStrategies
  const strategyOf = (name: string) => strategyNamed(strategies, name)
  strategyOf(opts.strategy)
  return {
    pool: opts.pool,
    membership: opts.membership,
    settings: opts.settings,
    signal: opts.signal,
    metrics: opts.metrics ?? createBatchMetrics(new Registry()),
    log: opts.log,
    runs: createRunRepository(opts.pool),
    chunkEvents: createChunkEventRepository(opts.pool),
    range,
    strategies,
    strategyOf,
    report: {
      workerId: opts.membership.id,
      runId: 0,
      period: opts.period,
      strategy: opts.strategy,
      status: 'REQUESTED',
      planned: false,
      chunksDone: 0,
      chunksStolen: 0,
      fencingRejections: 0,
      targets: 0,
      couponsIssued: 0,
      couponsRevoked: 0,
      redemptionsApplied: 0,
      pacing: {
        level: opts.settings.concurrency,
        reason: opts.settings.pacing.enabled ? 'full' : 'off',
        detail: 'no chunk worked',
        apiP99Ms: null,
        threadsRunning: null,
        restedMs: 0,
      },
      ms: 0,
    },
    survive: retrier(opts.settings.pollMs, opts.log),
  }
}

/**
 * Database trouble (an outage, a deadlock) is waited out with backoff, never fatal at once; only a
 * long unbroken run of failures ends the worker (survivors or a restart finish the run).
 */
function retrier(pollMs: number, log: WorkerOptions['log']) {
  let consecutiveFailures = 0
  return async <T>(work: () => Promise<T>): Promise<T | 'failed'> => {
    try {
      const result = await work()
      consecutiveFailures = 0
      return result
    } catch (error) {
      consecutiveFailures += 1
      if (consecutiveFailures > maxConsecutiveFailures) throw error
      log?.warn({ err: error, consecutiveFailures }, 'batch step failed; retrying')
      await sleep(Math.min(2_000, pollMs * 2 ** Math.min(consecutiveFailures, 6)))
      return 'failed'
    }
  }
}

/** A worker that finds no run for the period creates it, refused the way an operator's request is. */
async function openOrJoin(worker: WorkerContext, opts: WorkerOptions): Promise<RunRow> {
  const { settings } = worker
  const run = await openRun(
    worker.pool,
    worker.runs,
    { period: opts.period, ...opts.request },
    {
      strategy: opts.strategy,
      strategies: worker.strategies,
      orphanedAfterMs: settings.planLeaseMs,
      publishDelayMs: settings.publishDelayMs,
      timeZone: settings.timeZone,
      now: databaseClock(worker.pool),
    },
  )
  worker.report.runId = run.id
  return run
}

/** One step of the run protocol from the run's current status. */
function advance(worker: WorkerContext, run: RunRow): Promise<void> {
  return run.status === 'REQUESTED' || run.status === 'PLANNING' ? planUnlessTaken(worker, run) : workRunning(worker, run)
}

/** The first worker to claim planning plans and publishes the run; the others wait for it. */
async function planUnlessTaken(worker: WorkerContext, run: RunRow): Promise<void> {
  const { runs, settings, membership } = worker
  if (!(await runs.claimPlanning(run.id, membership.id, settings.planLeaseMs, run.strategy))) {
    await sleep(settings.pollMs)
    return
  }
  // Renewed at a third of the lease while the plan's transaction runs (a big month may take
  // longer than the lease); the publish is fenced on the planner whatever happens here.
  const renewal = setInterval(
    () => void runs.renewPlanning(run.id, membership.id, settings.planLeaseMs).catch(() => undefined),
    Math.max(10, settings.planLeaseMs / 3),
  )
  let pacer: Pacer | undefined
  if (settings.pacing.enabled) {
    // Before the plan's first statement: what the APIs feel without the batch, for a relative budget.
    const baselineMs = await readApiP99Ms(worker.pool, settings.pacing.reportsFreshForMs).catch(() => null)
    await runs.setPacingBaseline(run.id, membership.id, baselineMs === null ? null : Math.round(baselineMs * 1000))
    // The plan's own pace: its statements are reads and a narrow insert, lighter than a chunk's
    // writes, so the level they reached says nothing of what chunks may do; those start at the
    // floor again (workRunning).
    pacer = pacerFor(worker, run)
  }
  const targets = await runs
    .planAndPublish(
      { id: run.id, me: membership.id, range: worker.range, chunkSize: settings.chunkSize, sliceUsers: settings.planSliceUsers, policy: settings.policy },
      // The plan rests inside its transaction: well within the batch session's idle limit (the lease, DESIGN §6.2 step 5).
      async (sliceMs) => pacer?.rest(sliceMs, worker.signal, settings.leaseMs / 4),
    )
    .finally(() => clearInterval(renewal))
  worker.report.planned = targets !== null
  worker.log?.info({ runId: run.id, targets }, targets === null ? 'planning lease lost; another worker plans' : 'run planned and published')
}

/**
 * RUNNING: no user row is touched before every API replica has seen the targets, i.e. until the
 * publish delay has passed since the committed publish (stamped first, then re-read). Then
 * `concurrency` lanes take chunks until none is claimable; the last worker to see none open
 * completes the run.
 */
async function workRunning(worker: WorkerContext, run: RunRow): Promise<void> {
  const { runs, settings } = worker
  if (run.publishWaitMicros === null) return runs.markPublished(run.id)
  if (run.publishWaitMicros > 0) await sleep(Math.ceil(run.publishWaitMicros / 1000))
  worker.pacer ??= pacerFor(worker, run)
  const pacer = worker.pacer
  // Set by the first lane that finds nothing claimable: lanes the pace holds back stop waiting.
  const drained = { seen: false }
  await Promise.all(Array.from({ length: settings.concurrency }, (_, index) => lane(worker, run, index, pacer, drained)))
  const { open, nextExpiryMicros } = await runs.openChunks(run.id)
  if (open === 0) await runs.complete(run.id)
  // Chunks still leased by others: wait for them to finish, or for a lease to expire.
  else await sleep(Math.min(settings.pollMs, Math.max(10, Math.ceil((nextExpiryMicros ?? 0) / 1000))))
}

/** The run's pace for this worker: what the live API replicas report, and the run's progress. */
function pacerFor(worker: WorkerContext, run: RunRow): Pacer {
  const { pool, settings, metrics } = worker
  const readSignals = async (): Promise<PacingSignals> => {
    const [apiP99Ms, progress] = await Promise.all([readApiP99Ms(pool, settings.pacing.reportsFreshForMs), worker.runs.pacingProgress(run.id)])
    return { apiP99Ms, ...progress }
  }
  let lastReason: string | undefined
  let reportedAt = Number.NEGATIVE_INFINITY
  return createPacer({
    settings: settings.pacing,
    lanes: settings.concurrency,
    readSignals,
    onDecision: async (state) => {
      metrics.observePacing(state)
      const changed = state.reason !== lastReason
      if (changed) worker.log?.info({ runId: run.id, pacing: state }, `batch pacing: ${state.reason} (${state.detail})`)
      lastReason = state.reason
      // Into this worker's membership row for the run's status: on a new reason, else once a second.
      if (changed || performance.now() - reportedAt >= 1_000) {
        reportedAt = performance.now()
        await worker.membership.reportPacing({ runId: run.id, level: state.level, reason: state.reason })
      }
    },
  })
}

/** One of the worker's concurrent lanes: a chunk at a time, at the pacer's pace, until none is left for this worker. */
async function lane(worker: WorkerContext, run: RunRow, index: number, pacer: Pacer, drained: { seen: boolean }): Promise<void> {
  while (!worker.signal?.aborted && !drained.seen) {
    if (!(await pacer.admit(index))) continue
    const state = await worker.survive(async () => {
      // Membership is re-read at every chunk boundary: joins and deaths change the rank share.
      const view = await worker.membership.refresh().catch(() => worker.membership.view())
      if (view.rank < 0) return 'idle'
      const claimed = await claimNext(worker, run, index, view)
      if (claimed === 'empty') return 'empty'
      if (claimed) {
        const chunkStarted = performance.now()
        await processChunk(worker, run, claimed)
        await pacer.rest(performance.now() - chunkStarted, worker.signal)
      }
      return 'worked'
    })
    if (state === 'empty') {
      drained.seen = true
      return
    }
    if (state === 'idle') await sleep(worker.settings.pollMs)
  }
}

/**
 * Claims one chunk: of this rank's claimable chunks (or others' expired ones), tried in the
 * lane's order, the first whose claim wins. null when other workers won each of them (the lane
 * asks again); 'empty' when nothing is claimable.
 */
async function claimNext(
  worker: WorkerContext,
  run: RunRow,
  laneIndex: number,
  view: { rank: number; size: number },
): Promise<ChunkOwnership | null | 'empty'> {
  const { pool, settings, metrics, report } = worker
  const candidates = await pickClaimable(pool, { runId: run.id, step: gradeStep, rank: view.rank, size: view.size, limit: settings.concurrency })
  if (candidates.length === 0) return 'empty'
  // Lanes start at different candidates so they rarely race each other for one chunk.
  const start = laneIndex % candidates.length
  for (const chunkNo of [...candidates.slice(start), ...candidates.slice(0, start)]) {
    const claim = await claimChunk(pool, { runId: run.id, step: gradeStep, chunkNo, owner: worker.membership.id, leaseMs: settings.leaseMs })
    if (!claim) continue
    metrics.chunksClaimed.inc()
    const stolen = chunkNo % view.size !== view.rank
    if (stolen) {
      metrics.chunksStolen.inc()
      report.chunksStolen += 1
    }
    if (claim.epoch > 1) metrics.leaseTakeovers.inc()
    const chunk = { runId: run.id, step: gradeStep, chunkNo, owner: worker.membership.id, epoch: claim.epoch }
    await recordChunkEvent(worker, chunk, claimKind({ epoch: claim.epoch, stolen }))
    return chunk
  }
  return null
}

/** The console's history of the chunk; losing a row of it must never cost the chunk's work. */
async function recordChunkEvent(worker: WorkerContext, chunk: ChunkOwnership, kind: ChunkEventKind): Promise<void> {
  try {
    await worker.chunkEvents.record({ runId: chunk.runId, chunkNo: chunk.chunkNo, kind, worker: chunk.owner, epoch: chunk.epoch })
  } catch (error) {
    worker.log?.warn({ err: error, chunkNo: chunk.chunkNo, kind }, 'chunk event not recorded')
  }
}

/** Runs the run's strategy on a claimed chunk under a renewed lease, and counts what it did. */
async function processChunk(worker: WorkerContext, run: RunRow, chunk: ChunkOwnership): Promise<void> {
  const { pool, settings, metrics, report } = worker
  const lease = renewWhileProgressing(pool, chunk, settings.leaseMs)
  try {
    const outcome = await worker.strategyOf(run.strategy)({
      pool: lease.pool,
      chunk,
      range: worker.range,
      policy: settings.policy,
      leaseMs: settings.leaseMs,
      fence: (conn, counts) => fenceDone(conn, { ...chunk, itemCount: counts.targets, writeCount: counts.writes, ...counts }),
    })
    if (!outcome) {
      await fencedOut(worker, chunk, 'chunk commit refused by fencing: another worker owns it now')
      return
    }
    metrics.chunksDone.inc()
    metrics.targetsDone.inc(outcome.targets)
    report.chunksDone += 1
    report.targets += outcome.targets
    report.couponsIssued += outcome.couponsIssued
    report.couponsRevoked += outcome.couponsRevoked
    report.redemptionsApplied += outcome.redemptionsApplied
  } catch (error) {
    // Deadlock, lock timeout, lost connection: the transaction rolled back. Hand the chunk back
    // at once (if we still own it) so it is retried now, not after the lease.
    const released = await releaseChunk(pool, chunk).catch(() => undefined)
    // On Galera a takeover committed through another node refuses this commit by certification
    // (1213, at any statement or at COMMIT) rather than by the fence's 0 rows: the same outcome.
    if (isDeadlock(error) && released === false) {
      await fencedOut(worker, chunk, 'chunk commit refused by the cluster (1213): another worker owns it now')
      return
    }
    throw error
  } finally {
    lease.stop()
  }
}

/** Nothing of the chunk's transaction stands: another worker took it over. Counted and shown on the console. */
async function fencedOut(worker: WorkerContext, chunk: ChunkOwnership, message: string): Promise<void> {
  worker.metrics.fencingRejections.inc()
  worker.report.fencingRejections += 1
  worker.log?.warn({ chunkNo: chunk.chunkNo, epoch: chunk.epoch }, message)
  await recordChunkEvent(worker, chunk, 'REFUSED')
}

/**
 * The chunk's lease is renewed only while the chunk's own statements complete: one that hangs (a
 * lost host's locks, a black-holed connection) lets the lease lapse, and another worker takes the
 * chunk over instead of waiting on this one (its late commit is fenced out). `pool` is the one
 * the chunk's statements must go through.
 */
function renewWhileProgressing(pool: Pool, chunk: ChunkOwnership, leaseMs: number): { pool: Pool; stop(): void } {
  let progressAt = performance.now()
  const renewal = setInterval(
    () => {
      if (performance.now() - progressAt < leaseMs) renewLease(pool, { ...chunk, leaseMs }).catch(() => undefined)
    },
    Math.max(50, Math.floor(leaseMs / 3)),
  )
  return { pool: withProgress(pool, () => (progressAt = performance.now())), stop: () => clearInterval(renewal) }
}
