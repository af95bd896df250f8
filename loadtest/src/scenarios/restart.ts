import { setTimeout as sleep } from 'node:timers/promises'
import { auditBatch, formatAudit } from '@commerce/audit'
import type { Pool, RowDataPacket } from '@commerce/db'
import { defaultGradePolicy } from '@commerce/domain'
import { signToken } from '@commerce/kit'
import { awaitRunEnd, readRunProgress, requestBatchRun, type RunProgress } from '@commerce/local/batch'
import { localAuthSecret } from '@commerce/local/secret'
import { startStack, type Stack } from '@commerce/local/stack'
import { batchGantt, readBatchTimeline, runWindowOnLocalClock } from '../batch-timeline.ts'
import type { Band, Chart, Marker } from '../charts.ts'
import { awaitDeferred, createLiveMix, giveOldCoupons, livePeriod, type DeferredOutcome } from '../live-mix.ts'
import { runOpenModel, type OpenModelResult } from '../open-model.ts'
import { pacingChart, samplePacing, type PacingSamples } from '../pacing-samples.ts'
import { machineInfo, markdownTable, writeReport } from '../report.ts'
import { bucketMsFor, latencyOverTime, summarize, throughputOverTime, type LatencySummary } from '../stats.ts'
import { resetBatchState, seededDatabase } from './batch.ts'

// The write-up's restart test, with live traffic: the monthly batch requested from 2 batch-worker
// daemons while open-model API traffic runs; one daemon is killed (-9) a quarter of the way in
// and a fresh process joins 2 s later (a crash, then a scale-up). The run must complete exactly
// once, every 202 resolve, the audit pass. `npm run demo` tells this chapter; `npm run bench --
// restart` runs it alone and writes its report.

export interface RestartOptions {
  stack: Stack
  pool: Pool
  admin: string
  users: number
  period: string
  /** Open-model API traffic, req/s. */
  liveRate: number
  /** Seconds of traffic before anything is measured (connections opened, code compiled, caches filled). */
  warmupSec: number
  /** Seconds of traffic measured without the batch, at the same rate, before the run is requested. */
  calmSec: number
  signal?: AbortSignal
  step: (line: string) => void
}

export interface BatchWithRestart {
  run: RunProgress
  audit: boolean
  /** Seconds on the traffic's clock; NaN when the run ended before the kill. */
  killedAt: number
  joinedAt: number
  traffic: OpenModelResult
  /** The calm window: after the warm-up, before the run was requested. */
  withoutBatch: LatencySummary
  duringBatch: LatencySummary
  deferred: DeferredOutcome
  /** The daemons' pace during the run (on by default: they yield to the APIs' reported p99). */
  pacing: PacingSamples
  charts: Chart[]
}

async function holdsUnfinishedChunk(pool: Pool, runId: number, instanceId: string): Promise<boolean> {
  const [rows] = await pool.query<RowDataPacket[]>(
    "SELECT 1 FROM step_execution_log WHERE run_id = ? AND owner = UNHEX(REPLACE(?, '-', '')) AND status <> 'DONE' LIMIT 1",
    [runId, instanceId],
  )
  return rows.length > 0
}

export const errorsOf = (traffic: OpenModelResult): number => traffic.samples.filter((s) => s.status === 0 || s.status >= 500).length

/**
 * The monthly batch, requested from the daemons, inside open-model API traffic; a batch worker
 * holding a chunk is killed (-9) once a quarter of the chunks are done and a fresh process joins 2 s later.
 */
export async function batchWithRestart({
  stack,
  pool,
  admin,
  users,
  period,
  liveRate,
  warmupSec,
  calmSec,
  signal,
  step,
}: RestartOptions): Promise<BatchWithRestart> {
  await giveOldCoupons(pool, users)
  const mix = createLiveMix(users, `restart-${Date.now()}`)
  // Stops the traffic when the run is over, or earlier when the caller aborts (Ctrl-C).
  const stopTraffic = new AbortController()
  signal?.addEventListener('abort', () => stopTraffic.abort(), { once: true })
  step(`live API traffic: ${liveRate} req/s (open model) of profile / coupon list / redeem / place order for users holding a coupon`)
  const trafficStarted = performance.now()
  const sinceTraffic = () => (performance.now() - trafficStarted) / 1000
  const traffic = runOpenModel({
    origin: stack.url,
    rate: liveRate,
    durationSec: 3_600,
    connections: 200,
    request: mix.openRequest,
    onResponse: mix.onOpenResponse,
    signal: stopTraffic.signal,
  })
  // What the batch costs is the latency it adds at the same rate: a warm-up that is not measured
  // (right after a seed, the first seconds measure cold caches, not the batch), then a calm window.
  step(`  warming up ${warmupSec} s, then ${calmSec} s measured without the batch`)
  await sleep((warmupSec + calmSec) * 1_000)
  if (signal?.aborted) throw new Error('interrupted')

  step(`requesting the ${period} batch from the daemons (POST /ops/batch-worker/runs)`)
  const requested = sinceTraffic()
  const runId = await requestBatchRun(stack.url, admin, period)
  const stopSampling = new AbortController()
  const sampled = samplePacing(pool, { id: runId }, { started: trafficStarted, heartbeatMs: restartHeartbeatMs, signal: stopSampling.signal })

  let killedAt = NaN
  let joinedAt = NaN
  /** The killed worker's instance id tail, as the gantt's lanes name workers. */
  let victim = ''
  let victimIndex = 1
  let joining: Promise<unknown> = Promise.resolve()
  let reported = ''
  let status: RunProgress | null = null
  for (const deadline = Date.now() + 180_000; Date.now() < deadline; await sleep(20)) {
    // Ctrl-C: the caller tears the stack down (its replicas drain for seconds, so the run goes
    // on meanwhile); nothing more is killed or restarted here.
    if (signal?.aborted) throw new Error('interrupted')
    status = await readRunProgress(pool, { id: runId })
    if (!status) continue
    const line = `${status.status.padEnd(9)} ${status.chunksDone}/${status.chunks ?? '?'} chunks done`
    if (line !== reported) {
      reported = line
      step(`  ${line}`)
    }
    if (status.status === 'COMPLETED' || status.status === 'FAILED') break
    if (Number.isNaN(killedAt) && status.chunks && status.chunksDone >= Math.ceil(status.chunks / 4)) {
      // Every worker frozen first, so what they hold cannot change under the check; the victim is
      // one holding an unfinished chunk (#1 when both do): the kill must leave a chunk behind, or
      // the run could finish without anyone having to notice the death. Which daemon joined the
      // run first is up to their polls, so either may be the one.
      const workers = stack.replicas.filter((r) => r.service === 'batch-worker').sort((a, b) => b.index - a.index)
      for (const worker of workers) process.kill(worker.pid, 'SIGSTOP')
      await sleep(50) // a commit already sent lands before the check
      let chosen: (typeof workers)[number] | undefined
      for (const worker of workers) if (!chosen && (await holdsUnfinishedChunk(pool, runId, worker.instanceId ?? ''))) chosen = worker
      if (chosen) {
        victim = chosen.instanceId?.slice(-6) ?? '?'
        victimIndex = chosen.index
        await stack.killReplica('batch-worker', chosen.index)
        killedAt = sinceTraffic()
        step(`  kill -9 of batch-worker #${chosen.index} (…${victim}) holding a chunk: it comes back when its lease (10 s) runs out; the other worker goes on`)
      }
      for (const worker of workers) if (worker !== chosen) process.kill(worker.pid, 'SIGCONT')
    }
    if (!Number.isNaN(killedAt) && Number.isNaN(joinedAt) && sinceTraffic() - killedAt >= 2) {
      joinedAt = sinceTraffic()
      step(`  a fresh batch-worker #${victimIndex} starts and joins the run (as a scaled-up replica would)`)
      joining = stack
        .restartReplica('batch-worker', victimIndex)
        .then((replica) => step(`  batch-worker #${victimIndex} is back as …${replica.instanceId?.slice(-8)}`))
      // Awaited after the loop; until then a failure (the stack stopping) must not crash the process.
      joining.catch(() => undefined)
    }
  }
  await joining
  stopSampling.abort()
  const pacing = await sampled
  if (status?.status !== 'COMPLETED') throw new Error(`the run ended ${status?.status ?? 'unknown'}`)
  await sleep(1_000)
  stopTraffic.abort()
  const result = await traffic
  const run = (await readRunProgress(pool, { id: runId }))!
  step(
    `  COMPLETED: ${run.targets} targets in ${run.chunks} chunks, ${run.couponsIssued} coupons issued; ${run.totalSeconds?.toFixed(2)} s from request to COMPLETED (plan ${run.planSeconds?.toFixed(2)} s)`,
  )
  if (Number.isNaN(killedAt)) step('  (no batch worker held a chunk when checked: nothing was killed)')

  step('waiting for every deferred redemption (202) to be applied')
  const deferred = await awaitDeferred(pool, mix.deferredIds)
  const window = await runWindowOnLocalClock(pool, runId, () => performance.now() - trafficStarted, 'batch run (requested → completed)')
  const answered = result.samples.filter((s) => s.status !== 0)
  const inBatch = answered.filter((s) => window && s.at >= window.from * 1000 && s.at <= window.to * 1000)
  const duringBatch = summarize(inBatch.map((s) => s.ms))
  const withoutBatch = summarize(answered.filter((s) => s.at >= warmupSec * 1000 && s.at < requested * 1000).map((s) => s.ms))
  step(
    `  API traffic: ${result.samples.length.toLocaleString('en')} requests, ${errorsOf(result)} errors; p50 / p99 ${duringBatch.p50.toFixed(1)} / ${duringBatch.p99.toFixed(1)} ms during the batch, ${withoutBatch.p50.toFixed(1)} / ${withoutBatch.p99.toFixed(1)} ms without; ${deferred.count} × 202, resolved in ≤ ${deferred.maxSeconds.toFixed(1)} s, ${deferred.pendingLeft} left`,
  )

  step('auditing the batch from scratch (grades recomputed, coupons, chunks exactly once, redemptions)')
  const audit = await auditBatch(pool, { period: period, policy: defaultGradePolicy })
  console.log(formatAudit(audit))

  const markers: Marker[] = [
    ...(Number.isNaN(killedAt) ? [] : [{ at: killedAt, label: `…${victim} killed` }]),
    ...(Number.isNaN(joinedAt) ? [] : [{ at: joinedAt, label: 'a fresh worker joins' }]),
  ]
  const bands: Band[] = [{ from: warmupSec, to: requested, label: 'without the batch (measured)' }, ...(window ? [window] : [])]
  const bucketMs = bucketMsFor(result.samples)
  const timeline = await readBatchTimeline(pool, runId)
  const charts: Chart[] = [
    {
      kind: 'timeseries',
      title: 'API latency while the batch runs',
      caption: `p50/p90/p99 per ${bucketMs} ms of the requests scheduled then (open model, ${liveRate} req/s, latency from the scheduled arrival).`,
      xLabel: 'seconds since the traffic started',
      yLabel: 'latency ms',
      yScale: 'log',
      series: [
        ...latencyOverTime(
          result.samples.filter((s) => s.status !== 0),
          bucketMs,
        ),
        { label: 'p99 the APIs reported (replicas merged)', points: pacing.apiP99 },
      ],
      bands,
      markers,
    },
    { ...pacingChart('Batch pacing level over time', pacing.levels, bands), markers },
    {
      kind: 'timeseries',
      title: 'API responses by status',
      caption: '202 = a redemption for a user whose chunk is in progress, accepted and applied after the chunk commits.',
      xLabel: 'seconds since the traffic started',
      yLabel: 'responses / s',
      series: throughputOverTime(result.samples, bucketMs),
      bands,
      markers,
    },
    // Markers move from the traffic's clock to the run's: the run was requested at `requested`.
    batchGantt(
      timeline,
      'Batch timeline per worker',
      markers.map((m) => ({ ...m, at: m.at - requested })),
    ),
  ]
  return { run, audit: audit.ok, killedAt, joinedAt, traffic: result, withoutBatch, duringBatch, deferred, pacing, charts }
}

/**
 * The same run again with no traffic and no kill, on the same data and daemons (batch state
 * reset, the live mix's old coupons given again): how long the batch takes when it need not yield.
 */
export async function batchWithoutTraffic({ stack, pool, admin, users, period }: Omit<RestartOptions, 'liveRate' | 'warmupSec' | 'calmSec' | 'step'>) {
  await resetBatchState(pool, { members: false })
  await giveOldCoupons(pool, users)
  const run = await awaitRunEnd(pool, await requestBatchRun(stack.url, admin, period), { timeoutMs: 600_000 })
  const audit = await auditBatch(pool, { period, policy: defaultGradePolicy })
  return { seconds: run.totalSeconds ?? Number.NaN, status: run.status, audit: audit.ok }
}

/** The API p99 the batch's pacing holds the live traffic to by default (BATCH_PACING_P99_MS). */
const p99BudgetMs = 100

/**
 * The stack's settings for this chapter. The run is requested for the seeded period (the daemons'
 * own schedule would add another month's), and daemons look for work twice a second, so both
 * have joined the run well before a quarter of it is done. The heartbeat is the services' default,
 * named so that the pace sampler judges the daemons' rows live by the same interval.
 */
const restartHeartbeatMs = 5_000
export const restartStackEnv = { LOG_LEVEL: 'warn', BATCH_SCHEDULE_ENABLED: 'false', BATCH_DAEMON_POLL_MS: '500', HEARTBEAT_MS: String(restartHeartbeatMs) }

/** The chapter's figures as rows of a summary table. */
export function restartRows(batch: BatchWithRestart): { what: string; result: string }[] {
  const ms = (n: number) => `${n.toFixed(1)} ms`
  return [
    {
      what: 'batch under the traffic: request → COMPLETED (paced; one worker killed, its chunk waited out a lease)',
      result: `${batch.run.totalSeconds?.toFixed(2)} s (${batch.run.targets} targets, ${batch.run.couponsIssued} coupons, ${batch.run.chunks} chunks)`,
    },
    {
      what: 'batch: worker killed / joined',
      result: Number.isNaN(batch.killedAt)
        ? 'not killed (it never held a chunk when checked)'
        : `killed at ${batch.killedAt.toFixed(1)} s, joined at ${batch.joinedAt.toFixed(1)} s (traffic clock)`,
    },
    {
      what: 'batch pacing (yields to the APIs: their p99 ≤ 100 ms and ≤ 1.5 × their p99 before the run, by default)',
      result:
        batch.pacing.minLevel === null
          ? 'no pace reported (the run ended before a worker decided)'
          : `lowest level ${batch.pacing.minLevel.toFixed(2)} of 2 lanes per worker; reasons seen: ${batch.pacing.reasons.join(', ')}`,
    },
    { what: 'batch audit', result: batch.audit ? 'ok' : 'FAILED' },
    {
      what: 'API traffic (open model)',
      result: `${batch.traffic.samples.length.toLocaleString('en')} requests at ${Math.round(batch.traffic.offeredRate)} req/s; ${
        batch.withoutBatch.p99 <= p99BudgetMs
          ? `sustained without the batch (p99 ${ms(batch.withoutBatch.p99)} ≤ ${p99BudgetMs} ms)`
          : `NOT sustained by this machine even without the batch (p99 ${ms(batch.withoutBatch.p99)} > ${p99BudgetMs} ms): the figures below measure the machine, not the batch; try a lower --live-rate`
      }`,
    },
    { what: 'API latency without the batch (same rate, after the warm-up)', result: latencyLine(batch.withoutBatch) },
    { what: 'API latency during the batch', result: latencyLine(batch.duringBatch) },
    {
      what: 'what the batch cost the APIs (during ÷ without)',
      result: `mean ×${(batch.duringBatch.mean / batch.withoutBatch.mean).toFixed(2)}, p50 ×${(batch.duringBatch.p50 / batch.withoutBatch.p50).toFixed(2)}, p99 ×${(batch.duringBatch.p99 / batch.withoutBatch.p99).toFixed(2)}`,
    },
    { what: 'API errors (5xx, timeouts, resets)', result: String(errorsOf(batch.traffic)) },
    {
      what: '202 deferred redemptions',
      result: `${batch.deferred.count}, all applied within ${Number.isNaN(batch.deferred.maxSeconds) ? '-' : `${batch.deferred.maxSeconds.toFixed(1)} s`}; ${batch.deferred.pendingLeft} still pending`,
    },
  ]
}

const latencyLine = (summary: LatencySummary) =>
  `mean ${summary.mean.toFixed(1)} ms, p50 ${summary.p50.toFixed(1)} ms, p99 ${summary.p99.toFixed(1)} ms, max ${summary.max.toFixed(1)} ms (${summary.count.toLocaleString('en')} requests)`

export const restartPassed = (batch: BatchWithRestart) =>
  batch.audit && batch.deferred.pendingLeft === 0 && errorsOf(batch.traffic) === 0 && !Number.isNaN(batch.killedAt)

/** `npm run bench -- restart`: the chapter on its own database and stack, with its report. */
export async function benchRestart(options: { baseUrl: string; users: number; orders: number; rate: number; log: (line: string) => void }): Promise<string> {
  const { log } = options
  log(`seeding ${options.users.toLocaleString('en')} users / ${options.orders.toLocaleString('en')} orders`)
  const db = await seededDatabase(options.baseUrl, 'bench_restart', options.users, options.orders)
  const machine = await machineInfo(db.pool)
  const stack = await startStack({ replicas: 2, batchWorkers: 2, databaseUrl: db.url, env: restartStackEnv })
  let batch: BatchWithRestart
  try {
    const admin = signToken(localAuthSecret(), { userId: 1, role: 'admin' })
    batch = await batchWithRestart({
      stack,
      pool: db.pool,
      admin,
      users: options.users,
      period: livePeriod,
      liveRate: options.rate,
      warmupSec: 10,
      calmSec: 15,
      step: log,
    })
  } finally {
    await stack.stop({ stopDatabase: false })
    await db.pool.end()
  }
  const markdown = [
    `# Restart during the batch — ${machine.date}`,
    '',
    `Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.database}. Load generator on the same machine.`,
    `${options.users.toLocaleString('en')} users / ${options.orders.toLocaleString('en')} orders; 2 replicas per API and 2 batch-worker daemons behind nginx; open-model API traffic at ${options.rate} req/s; one daemon killed (-9) a quarter of the way through the run, a fresh one started 2 s later.`,
    '',
    markdownTable(restartRows(batch)),
  ].join('\n')
  const dir = writeReport(
    'restart',
    { machine, options: { ...options, log: undefined }, batch: { ...batch, traffic: { ...batch.traffic, samples: undefined } } },
    markdown,
    batch.charts,
  )
  log(markdown)
  if (!restartPassed(batch)) throw new Error(`the restart scenario failed its checks; see ${dir}`)
  return dir
}
