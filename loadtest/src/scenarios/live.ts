import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import { auditBatch } from '@commerce/audit'
import type { Pool } from '@commerce/db'
import { defaultGradePolicy } from '@commerce/domain'
import { signToken } from '@commerce/kit'
import { awaitRunEnd, batchWorkerHeartbeatMs, requestBatchRun } from '@commerce/local/batch'
import { localAuthSecret } from '@commerce/local/secret'
import { unguardedServerScripts } from '../baselines/unguarded-apis.ts'
import { startStack } from '@commerce/local/stack'
import { runWindowOnLocalClock } from '../batch-timeline.ts'
import type { Band, Chart, LineSeries } from '../charts.ts'
import { pacingChart, samplePacing } from '../pacing-samples.ts'
import { awaitDeferred, createLiveMix, giveOldCoupons, liveMixKinds, livePeriod, type DeferredOutcome } from '../live-mix.ts'
import { runOpenModel } from '../open-model.ts'
import { machineInfo, markdownTable, median, writeReport } from '../report.ts'
import { bucketMsFor, latencyOverTime, statusCounts, summarize, throughputOverTime, type LatencySummary } from '../stats.ts'
import { resetBatchState, seededDatabase } from './batch.ts'

// `npm run bench -- live-during-batch`: the write-up's load test. The mix of live-mix.ts
// (profile, coupon list, redeem, place order) through nginx to 2 replicas of each API while the
// full monthly batch runs on 2 batch-worker daemons (requested as an operator would), in variants: the batch pacing itself by the APIs'
// reported latency (paced, the default), flat out (unpaced), and flat out without the guard.
// Two load models, labelled as such in the report:
//   closed  the write-up's own scenario: `connections` clients × `loops` loops, no pause (autocannon);
//           latency is then mostly the clients' own queue (Little's law: clients ÷ throughput);
//   open    the same mix arriving at constant rates for `openSeconds` each (the last default rate is
//           the throughput the write-up's fixed system reached, 500 clients ÷ 0.43 s ≈ 1,160 req/s),
//           latency measured from each request's scheduled time (coordinated-omission corrected):
//           the highest rate that keeps the targets is this machine's answer.
export const loadModels = ['closed', 'open'] as const
export type LoadModel = (typeof loadModels)[number]
export const liveVariants = ['paced', 'unpaced', 'unguarded'] as const
export type LiveVariant = (typeof liveVariants)[number]
const variantText: Record<LiveVariant, string> = { paced: 'paced', unpaced: 'unpaced', unguarded: 'unpaced, no guard' }

export interface LiveBenchOptions {
  baseUrl: string
  users: number
  orders: number
  connections: number
  loops: number
  /** Open model's arrival rates, req/s: one run per rate and variant. */
  rates: number[]
  models: LoadModel[]
  variants: LiveVariant[]
  log: (line: string) => void
}

const period = livePeriod
/** Open model: the traffic alone this long before the batch starts (the "no batch" figures), and after it ends. */
const calmSeconds = 10
/** Unmeasured traffic on each fresh stack first: 8 new processes are still compiling their hot paths for seconds. */
const warmUpSeconds = 5
const tailSeconds = 3
/** A paced run under heavy traffic may take minutes; past this the bench gives up. */
const runTimeoutMs = 30 * 60_000

/**
 * The daemons as deployed (no schedule: the bench requests the run), heartbeating fast enough for
 * a run of seconds to see its workers; the variant decides whether they pace.
 */
export const stackEnv = (variant: LiveVariant) => ({
  LOG_LEVEL: 'warn',
  BATCH_SCHEDULE_ENABLED: 'false',
  BATCH_DAEMON_POLL_MS: '200',
  HEARTBEAT_MS: String(batchWorkerHeartbeatMs),
  BATCH_PACING: String(variant === 'paced'),
})
const adminToken = () => signToken(localAuthSecret(), { userId: 1, role: 'admin' })

interface Traffic {
  /** ms since the traffic started (closed: completion; open: scheduled arrival), latency ms, status (0 = network error). */
  samples: { at: number; ms: number; status: number }[]
  timeouts: number
  resets: number
}

/** The closed loop's warm-up rate. */
const warmUpRate = 500

const isTimeout = (code: string | undefined) => /TIMEOUT/i.test(code ?? '')

/** The write-up's closed loop: each client sends its next request when the previous one answers. */
function closedLoop(url: string, mix: ReturnType<typeof createLiveMix>, options: LiveBenchOptions): Promise<Traffic> {
  type Loop = { userId: number }
  const pick = (context: object): Loop => context as Loop
  const traffic: Traffic = { samples: [], timeouts: 0, resets: 0 }
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections: options.connections,
        amount: options.connections * options.loops * liveMixKinds.length,
        timeout: 10,
        requests: liveMixKinds.map((_, kind) => ({
          setupRequest: (request: autocannon.Request, context: object) => {
            if (kind === 0) pick(context).userId = mix.randomUser()
            return { ...request, ...mix.request(kind, pick(context).userId) }
          },
          ...(kind === 2 ? { onResponse: (status: number, body: string) => mix.onRedeemResponse(status, body) } : {}),
        })),
      },
      (error) => (error ? reject(error) : resolve(traffic)),
    )
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      traffic.samples.push({ at: performance.now() - started, ms: responseTime, status: statusCode })
    })
    instance.on('reqError', (error: { code?: string }) => {
      traffic.samples.push({ at: performance.now() - started, ms: 10_000, status: 0 })
      if (isTimeout(error.code) || error.code === undefined) traffic.timeouts += 1
      else traffic.resets += 1
    })
  })
}

/** The same requests arriving at a constant rate, whatever the servers do, until `signal` aborts. */
async function openLoop(url: string, mix: ReturnType<typeof createLiveMix>, rate: number, options: LiveBenchOptions, signal: AbortSignal): Promise<Traffic> {
  const result = await runOpenModel({
    origin: url,
    rate,
    // A bound only: the run stops `tailSeconds` after the batch (a paced batch may take minutes).
    durationSec: 1_800,
    signal,
    connections: options.connections,
    request: mix.openRequest,
    onResponse: mix.onOpenResponse,
  })
  const codes = Object.entries(result.errorCodes)
  return {
    samples: result.samples,
    timeouts: codes.filter(([code]) => isTimeout(code)).reduce((sum, [, n]) => sum + n, 0),
    resets: codes.filter(([code]) => !isTimeout(code)).reduce((sum, [, n]) => sum + n, 0),
  }
}

interface ModeResult {
  model: LoadModel
  /** Open model's arrival rate; 0 for the closed loop. */
  rate: number
  variant: LiveVariant
  requests: number
  errors: { status5xx: number; timeouts: number; resets: number }
  statuses: Record<string, number>
  accepted202: number
  overall: LatencySummary
  duringBatch: LatencySummary
  /** Open model: the traffic before the batch started; closed: the same as overall. */
  withoutBatch: LatencySummary
  /** The workers' pace as sampled during the run: lowest level, reasons seen. */
  pacing: { minLevel: number | null; reasons: string[] }
  batchSeconds: number
  /** Request → published (planning) and published → COMPLETED (chunks), DB clock. */
  planSeconds: number
  processSeconds: number
  deferred: DeferredOutcome
  audit: boolean
  /** Per-bucket series for the charts; seconds since the traffic started. */
  timeline: { bucketMs: number; latency: LineSeries[]; throughput: LineSeries[]; pacing: LineSeries[]; batch: Band[] }
}

async function runMode(model: LoadModel, rate: number, variant: LiveVariant, db: { url: string; pool: Pool }, options: LiveBenchOptions): Promise<ModeResult> {
  const { log } = options
  const name = modeName({ model, rate, variant })
  await resetBatchState(db.pool)
  await giveOldCoupons(db.pool, options.users)
  const stack = await startStack({
    replicas: 2,
    batchWorkers: 2,
    databaseUrl: db.url,
    env: stackEnv(variant),
    serverScripts: variant === 'unguarded' ? unguardedServerScripts : {},
  })
  try {
    // A short warm-up (connections opened, code paths compiled) that is not measured, so the
    // first second of a fresh stack does not dominate a run of a few seconds.
    const warmUp = createLiveMix(options.users, `warm-up-${model}-${rate}-${variant}`)
    await runOpenModel({
      origin: stack.url,
      rate: rate || warmUpRate,
      durationSec: warmUpSeconds,
      connections: options.connections,
      request: warmUp.openRequest,
    })
    const mix = createLiveMix(options.users, `bench-${model}-${rate}-${variant}`)
    const started = performance.now()
    const stopTraffic = new AbortController()
    const trafficDone = model === 'closed' ? closedLoop(stack.url, mix, options) : openLoop(stack.url, mix, rate, options, stopTraffic.signal)

    // The batch starts once the traffic is flowing (open model: after a calm window), and runs inside it.
    await sleep(model === 'closed' ? 1_000 : calmSeconds * 1_000)
    log(`  ${name}: traffic running, requesting the batch from the 2 daemons`)
    const batchStart = performance.now() - started
    const runId = await requestBatchRun(stack.url, adminToken(), period)
    const stopSampling = new AbortController()
    const sampled = samplePacing(db.pool, { id: runId }, { started, heartbeatMs: batchWorkerHeartbeatMs, signal: stopSampling.signal })
    const status = await awaitRunEnd(db.pool, runId, { timeoutMs: runTimeoutMs })
    const batchEnd = performance.now() - started
    stopSampling.abort()
    if (status.status !== 'COMPLETED') throw new Error(`the run ended ${status.status}; see the batch-worker logs in .local/logs`)
    setTimeout(() => stopTraffic.abort(), tailSeconds * 1_000)
    const [traffic, pace] = await Promise.all([trafficDone, sampled])
    const runWindow = await runWindowOnLocalClock(db.pool, runId, () => performance.now() - started, 'batch run (requested → completed)')

    // Every 202 must resolve: wait for the sweeper and the chunk commits to apply them.
    const deferred = await awaitDeferred(db.pool, mix.deferredIds)
    const audit = await auditBatch(db.pool, { period, policy: defaultGradePolicy })
    const answered = traffic.samples.filter((s) => s.status !== 0)
    const statuses = statusCounts(answered)
    const bucketMs = bucketMsFor(traffic.samples)
    const status5xx = answered.filter((s) => s.status >= 500).length
    log(
      `  ${name}: ${traffic.samples.length} requests, ${status5xx} × 5xx, ${traffic.timeouts} timeouts, ${traffic.resets} resets, ${deferred.count} × 202, ${deferred.pendingLeft} pending left, audit ${audit.ok ? 'ok' : 'FAILED'}`,
    )
    return {
      model,
      rate,
      variant,
      requests: traffic.samples.length,
      errors: { status5xx, timeouts: traffic.timeouts, resets: traffic.resets },
      statuses,
      accepted202: deferred.count,
      overall: summarize(answered.map((s) => s.ms)),
      duringBatch: summarize(answered.filter((s) => s.at >= batchStart && s.at <= batchEnd).map((s) => s.ms)),
      withoutBatch: summarize((model === 'closed' ? answered : answered.filter((s) => s.at < batchStart)).map((s) => s.ms)),
      pacing: { minLevel: pace.minLevel, reasons: pace.reasons },
      batchSeconds: status.totalSeconds ?? NaN,
      planSeconds: status.planSeconds ?? NaN,
      processSeconds: status.processSeconds ?? NaN,
      deferred,
      audit: audit.ok && deferred.pendingLeft === 0,
      timeline: {
        bucketMs,
        latency: [...latencyOverTime(answered, bucketMs), { label: 'p99 the APIs reported (replicas merged)', points: pace.apiP99 }],
        throughput: throughputOverTime(traffic.samples, bucketMs),
        pacing: pace.levels,
        // The scenario's "in batch" window: from the request until the bench saw the run COMPLETED.
        batch: [{ from: batchStart / 1000, to: batchEnd / 1000, label: 'in batch (request → COMPLETED seen)' }, ...(runWindow ? [runWindow] : [])],
      },
    }
  } finally {
    await stack.stop({ stopDatabase: false })
  }
}

/** The batch on its own `times` times, same data and daemons, no traffic: its seconds, for the slowdown ratio. */
async function batchAlone(db: { url: string; pool: Pool }, users: number, times: number): Promise<number[]> {
  const stack = await startStack({ replicas: 2, batchWorkers: 2, databaseUrl: db.url, env: stackEnv('paced') })
  try {
    const seconds: number[] = []
    for (let i = 0; i < times; i++) {
      await resetBatchState(db.pool)
      await giveOldCoupons(db.pool, users)
      const status = await awaitRunEnd(db.pool, await requestBatchRun(stack.url, adminToken(), period), { timeoutMs: runTimeoutMs })
      seconds.push(status.totalSeconds ?? Number.NaN)
    }
    return seconds
  } finally {
    await stack.stop({ stopDatabase: false })
  }
}

export async function benchLiveDuringBatch(options: LiveBenchOptions): Promise<string> {
  const { log } = options
  log(`seeding ${options.users.toLocaleString('en')} users / ${options.orders.toLocaleString('en')} orders`)
  const db = await seededDatabase(options.baseUrl, 'bench_live', options.users, options.orders)
  const machine = await machineInfo(db.pool)
  const alone = await batchAlone(db, options.users, 3)
  log(`  batch alone: ${alone.map((s) => s.toFixed(2)).join(', ')} s`)
  const modes: ModeResult[] = []
  const runs = options.models.flatMap((model): { model: LoadModel; rate: number }[] =>
    model === 'closed' ? [{ model, rate: 0 }] : options.rates.map((rate) => ({ model, rate })),
  )
  for (const { model, rate } of runs) for (const variant of options.variants) modes.push(await runMode(model, rate, variant, db, options))
  await db.pool.end()

  const aloneMedian = median(alone)
  const ms = (n: number) => n.toFixed(1)
  const rows = modes.map((m) => ({
    model: m.model === 'closed' ? `closed, ${options.connections} clients` : `open, ${m.rate} req/s`,
    batch: variantText[m.variant],
    requests: m.requests,
    '5xx': m.errors.status5xx,
    timeouts: m.errors.timeouts,
    resets: m.errors.resets,
    '202s': m.accepted202,
    'mean ms': ms(m.overall.mean),
    'p50 ms': ms(m.overall.p50),
    'p99 ms': ms(m.overall.p99),
    'max ms': ms(m.overall.max),
    'mean ms no batch': m.model === 'closed' ? '-' : ms(m.withoutBatch.mean),
    'p99 ms no batch': m.model === 'closed' ? '-' : ms(m.withoutBatch.p99),
    'mean ms in batch': ms(m.duringBatch.mean),
    'p99 ms in batch': ms(m.duringBatch.p99),
    'p99 in batch ÷ no batch': m.model === 'closed' ? '-' : (m.duringBatch.p99 / m.withoutBatch.p99).toFixed(2),
    'pace: lowest level, reasons': m.variant === 'paced' ? `${m.pacing.minLevel?.toFixed(2) ?? '-'}, ${m.pacing.reasons.join('/') || '-'}` : 'off',
    'batch s (plan + chunks)': `${m.batchSeconds.toFixed(2)} (${m.planSeconds.toFixed(2)} + ${m.processSeconds.toFixed(2)})`,
    'batch slowdown': `${(((m.batchSeconds - aloneMedian) / aloneMedian) * 100).toFixed(0)} %`,
    '202 resolved in (median / max s)': m.accepted202 ? `${m.deferred.medianSeconds.toFixed(2)} / ${m.deferred.maxSeconds.toFixed(2)}` : '-',
    audit: m.audit ? 'ok' : 'FAILED',
  }))
  const requests = options.connections * options.loops * liveMixKinds.length
  const markdown = [
    `# Live APIs during the batch — ${machine.date}`,
    '',
    `Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.database}. Load generator on the same machine.`,
    `The API mix (${liveMixKinds.join(', ')}) through nginx to 2 replicas per API, while the ${period} batch runs on 2 batch-worker daemons (requested through nginx once the traffic runs) over ${options.users.toLocaleString('en')} users / ${options.orders.toLocaleString('en')} orders: paced (by the APIs' reported p99, the default), unpaced (every lane flat out), or unpaced without the guard.`,
    `Closed loop: ${options.connections} clients × ${options.loops} loops (${requests.toLocaleString('en')} requests) with no pause, as in the write-up: latency ≈ clients ÷ throughput; the batch starts 1 s in. Open model: the mix arriving at ${options.rates.join(', ')} req/s, latency from each scheduled arrival (coordinated-omission corrected): ${calmSeconds} s without the batch ("no batch"), then the batch, then ${tailSeconds} s more. Each run follows an unmeasured ${warmUpSeconds}-s warm-up on the fresh stack (open model, at its own rate; ${warmUpRate} req/s before the closed loop).`,
    `Batch alone (same data, 2 workers, paced with no traffic to yield to): median ${aloneMedian.toFixed(2)} s of ${alone.length}. Statuses: ${modes.map((m) => `${modeName(m)} ${JSON.stringify(m.statuses)}`).join('; ')}.`,
    '',
    markdownTable(rows),
  ].join('\n')
  const dir = writeReport(
    'live-during-batch',
    { machine, options: { ...options, log: undefined }, alone, modes },
    markdown,
    liveCharts(modes, aloneMedian, alone.length),
  )
  log(markdown)
  if (modes.some((m) => !m.audit)) throw new Error(`an audit failed or a deferred redemption never resolved; see ${dir}`)
  return dir
}

const bucketName = (ms: number) => (ms === 1000 ? 'second' : `${ms} ms`)

const modeName = (m: Pick<ModeResult, 'model' | 'rate' | 'variant'>) =>
  `${m.model === 'closed' ? 'closed loop' : `open ${m.rate} req/s`}, ${variantText[m.variant]}`

/** Per mode: latency and throughput over time with the batch window; then bars comparing the modes. */
function liveCharts(modes: ModeResult[], aloneMedian: number, aloneRuns: number): Chart[] {
  const labelled = modes.map((m) => ({ label: modeName(m), mode: m }))
  const overTime = modes.flatMap((m): Chart[] => [
    {
      kind: 'timeseries',
      title: `Latency over time, ${modeName(m)}`,
      caption:
        m.model === 'closed'
          ? `p50/p90/p99 of the responses completed in each ${bucketName(m.timeline.bucketMs)}. Closed loop: latency is measured from when each request was sent.`
          : `p50/p90/p99 of the requests scheduled in each ${bucketName(m.timeline.bucketMs)}, measured from their scheduled arrival.`,
      xLabel: 'seconds since the traffic started',
      yLabel: 'latency ms',
      yScale: 'log',
      series: m.timeline.latency,
      bands: m.timeline.batch,
    },
    ...(m.variant === 'paced' ? [pacingChart(`Batch pacing level over time, ${modeName(m)}`, m.timeline.pacing, m.timeline.batch)] : []),
    {
      kind: 'timeseries',
      title: `Throughput by status, ${modeName(m)}`,
      caption: `Responses per second, counted per ${bucketName(m.timeline.bucketMs)}. 202 = redemption accepted during the batch, applied later; 5xx / network errors includes timeouts and resets.`,
      xLabel: 'seconds since the traffic started',
      yLabel: 'responses / s',
      series: m.timeline.throughput,
      bands: m.timeline.batch,
    },
  ])
  const latencies = ['mean', 'p50', 'p90', 'p99'] as const
  return [
    ...overTime,
    {
      kind: 'bars',
      title: 'Latency while the batch runs, per load model and variant',
      caption: 'Responses scheduled between the run request and its COMPLETED status (the “in batch” columns of the table).',
      yLabel: 'latency ms',
      unit: ' ms',
      digits: 1,
      categories: [...latencies],
      series: labelled.map(({ label, mode }) => ({ label, values: latencies.map((q) => mode.duringBatch[q]) })),
    },
    {
      kind: 'bars',
      title: 'Errors and deferred redemptions, per load model and variant',
      yLabel: 'responses',
      digits: 0,
      categories: ['5xx', 'timeouts', 'resets', '202 accepted'],
      series: labelled.map(({ label, mode }) => ({ label, values: [mode.errors.status5xx, mode.errors.timeouts, mode.errors.resets, mode.accepted202] })),
    },
    {
      kind: 'bars',
      title: 'Batch time alone and under live traffic',
      caption: `Alone: median of ${aloneRuns} runs on the same data and 2 workers.`,
      yLabel: 'seconds (DB clock)',
      unit: ' s',
      categories: ['alone', ...labelled.map(({ label }) => `with traffic, ${label}`)],
      series: [{ label: 'batch total', values: [aloneMedian, ...modes.map((m) => m.batchSeconds)] }],
    },
  ]
}
