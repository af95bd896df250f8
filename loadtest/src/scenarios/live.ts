import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import { auditBatch } from '@commerce/audit'
import type { Pool } from '@commerce/db'
import { defaultGradePolicy } from '@commerce/domain'
import { readRunProgress, startBatchWorker } from '@commerce/local/batch'
import { unguardedServerScripts } from '../baselines/unguarded-apis.ts'
import { startStack } from '@commerce/local/stack'
import { runWindowOnLocalClock } from '../batch-timeline.ts'
import type { Band, Chart, LineSeries } from '../charts.ts'
import { awaitDeferred, createLiveMix, giveOldCoupons, liveMixKinds, livePeriod, type DeferredOutcome } from '../live-mix.ts'
import { runOpenModel } from '../open-model.ts'
import { machineInfo, markdownTable, median, writeReport } from '../report.ts'
import { bucketMsFor, latencyOverTime, statusCounts, summarize, throughputOverTime, type LatencySummary } from '../stats.ts'
import { resetBatchState, seededDatabase } from './batch.ts'

// `npm run bench -- live-during-batch`: the write-up's load test. The mix of live-mix.ts
// (profile, coupon list, redeem, place order) through nginx to 2 replicas of each API while the
// full monthly batch runs on 2 worker processes, with the guard on and, to show what it buys, off.
// Two load models, labelled as such in the report:
//   closed  the write-up's own scenario: `connections` clients × `loops` loops, no pause (autocannon);
//           latency is then mostly the clients' own queue (Little's law: clients ÷ throughput);
//   open    the same mix arriving at constant rates for `openSeconds` each (the last default rate is
//           the throughput the write-up's fixed system reached, 500 clients ÷ 0.43 s ≈ 1,160 req/s),
//           latency measured from each request's scheduled time (coordinated-omission corrected):
//           the highest rate that keeps the targets is this machine's answer.
export const loadModels = ['closed', 'open'] as const
export type LoadModel = (typeof loadModels)[number]

export interface LiveBenchOptions {
  baseUrl: string
  users: number
  orders: number
  connections: number
  loops: number
  /** Open model's arrival rates, req/s: one run per rate and guard mode. */
  rates: number[]
  models: LoadModel[]
  log: (line: string) => void
}

const period = livePeriod
/** Each open-model run: long enough for the batch (2–5 s under load) and a calm tail around it. */
const openSeconds = 20

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

/** The same requests arriving at a constant rate, whatever the servers do. */
async function openLoop(url: string, mix: ReturnType<typeof createLiveMix>, rate: number, options: LiveBenchOptions): Promise<Traffic> {
  const result = await runOpenModel({
    origin: url,
    rate,
    durationSec: openSeconds,
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
  guard: 'on' | 'off'
  requests: number
  errors: { status5xx: number; timeouts: number; resets: number }
  statuses: Record<string, number>
  accepted202: number
  overall: LatencySummary
  duringBatch: LatencySummary
  batchSeconds: number
  /** Request → published (planning) and published → COMPLETED (chunks), DB clock. */
  planSeconds: number
  processSeconds: number
  deferred: DeferredOutcome
  audit: boolean
  /** Per-bucket series for the charts; seconds since the traffic started. */
  timeline: { bucketMs: number; latency: LineSeries[]; throughput: LineSeries[]; batch: Band[] }
}

async function runMode(model: LoadModel, rate: number, guard: 'on' | 'off', db: { url: string; pool: Pool }, options: LiveBenchOptions): Promise<ModeResult> {
  const { log } = options
  const name = model === 'closed' ? `closed loop, guard ${guard}` : `open ${rate} req/s, guard ${guard}`
  await resetBatchState(db.pool)
  await giveOldCoupons(db.pool, options.users)
  const stack = await startStack({
    replicas: 2,
    batchWorkers: 0,
    databaseUrl: db.url,
    env: { LOG_LEVEL: 'warn' },
    serverScripts: guard === 'on' ? {} : unguardedServerScripts,
  })
  try {
    // A short warm-up (connections opened, code paths compiled) that is not measured, so the
    // first second of a fresh stack does not dominate a run of a few seconds.
    const warmUp = createLiveMix(options.users, `warm-up-${model}-${rate}-${guard}`)
    await runOpenModel({ origin: stack.url, rate: rate || warmUpRate, durationSec: 2, connections: options.connections, request: warmUp.openRequest })
    const mix = createLiveMix(options.users, `bench-${model}-${rate}-${guard}`)
    const started = performance.now()
    const trafficDone = model === 'closed' ? closedLoop(stack.url, mix, options) : openLoop(stack.url, mix, rate, options)

    // The batch starts once the traffic is flowing, and runs inside it.
    await sleep(1_000)
    const batchStart = performance.now() - started
    log(`  ${name}: traffic running, starting the batch on 2 workers`)
    const workers = [0, 1].map((index) => startBatchWorker(index, { databaseUrl: db.url, period, env: { LOG_LEVEL: 'warn' } }))
    const results = await Promise.all(workers.map((w) => w.finished))
    const batchEnd = performance.now() - started
    if (results.some((r) => r.code !== 0)) throw new Error(`a batch worker failed; see ${workers.map((w) => w.logFile).join(', ')}`)
    const traffic = await trafficDone
    const status = await readRunProgress(db.pool, { period })
    const runWindow = status ? await runWindowOnLocalClock(db.pool, status.id, () => performance.now() - started, 'batch run (requested → completed)') : null

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
      guard,
      requests: traffic.samples.length,
      errors: { status5xx, timeouts: traffic.timeouts, resets: traffic.resets },
      statuses,
      accepted202: deferred.count,
      overall: summarize(answered.map((s) => s.ms)),
      duringBatch: summarize(answered.filter((s) => s.at >= batchStart && s.at <= batchEnd).map((s) => s.ms)),
      batchSeconds: status?.totalSeconds ?? NaN,
      planSeconds: status?.planSeconds ?? NaN,
      processSeconds: status?.processSeconds ?? NaN,
      deferred,
      audit: audit.ok && deferred.pendingLeft === 0,
      timeline: {
        bucketMs,
        latency: latencyOverTime(answered, bucketMs),
        throughput: throughputOverTime(traffic.samples, bucketMs),
        // The scenario's "in batch" window is the worker processes' lifetime (their start-up included).
        batch: [{ from: batchStart / 1000, to: batchEnd / 1000, label: 'batch workers running' }, ...(runWindow ? [runWindow] : [])],
      },
    }
  } finally {
    await stack.stop({ stopDatabase: false })
  }
}

/** The batch on its own, same data and workers, for the slowdown ratio. */
async function batchAlone(db: { url: string; pool: Pool }, users: number): Promise<number> {
  await resetBatchState(db.pool)
  await giveOldCoupons(db.pool, users)
  const workers = [0, 1].map((index) => startBatchWorker(index, { databaseUrl: db.url, period, env: { LOG_LEVEL: 'warn' } }))
  await Promise.all(workers.map((w) => w.finished))
  return (await readRunProgress(db.pool, { period }))?.totalSeconds ?? NaN
}

export async function benchLiveDuringBatch(options: LiveBenchOptions): Promise<string> {
  const { log } = options
  log(`seeding ${options.users.toLocaleString('en')} users / ${options.orders.toLocaleString('en')} orders`)
  const db = await seededDatabase(options.baseUrl, 'bench_live', options.users, options.orders)
  const machine = await machineInfo(db.pool)
  const alone: number[] = []
  for (let i = 0; i < 3; i++) alone.push(await batchAlone(db, options.users))
  log(`  batch alone: ${alone.map((s) => s.toFixed(2)).join(', ')} s`)
  const modes: ModeResult[] = []
  const runs = options.models.flatMap((model): { model: LoadModel; rate: number }[] =>
    model === 'closed' ? [{ model, rate: 0 }] : options.rates.map((rate) => ({ model, rate })),
  )
  for (const { model, rate } of runs) for (const guard of ['on', 'off'] as const) modes.push(await runMode(model, rate, guard, db, options))
  await db.pool.end()

  const aloneMedian = median(alone)
  const ms = (n: number) => n.toFixed(1)
  const rows = modes.map((m) => ({
    model: m.model === 'closed' ? `closed, ${options.connections} clients` : `open, ${m.rate} req/s`,
    guard: m.guard,
    requests: m.requests,
    '5xx': m.errors.status5xx,
    timeouts: m.errors.timeouts,
    resets: m.errors.resets,
    '202s': m.accepted202,
    'mean ms': ms(m.overall.mean),
    'p50 ms': ms(m.overall.p50),
    'p99 ms': ms(m.overall.p99),
    'max ms': ms(m.overall.max),
    'mean ms in batch': ms(m.duringBatch.mean),
    'p99 ms in batch': ms(m.duringBatch.p99),
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
    `The API mix (${liveMixKinds.join(', ')}) through nginx to 2 replicas per API, while the ${period} batch runs on 2 worker processes over ${options.users.toLocaleString('en')} users / ${options.orders.toLocaleString('en')} orders; the batch starts 1 s into the traffic.`,
    `Closed loop: ${options.connections} clients × ${options.loops} loops (${requests.toLocaleString('en')} requests) with no pause, as in the write-up: latency ≈ clients ÷ throughput. Open model: the mix arriving at ${options.rates.join(', ')} req/s for ${openSeconds} s each, latency from each scheduled arrival (coordinated-omission corrected). Each run follows an unmeasured 2-s warm-up on the fresh stack (open model, at its own rate; ${warmUpRate} req/s before the closed loop).`,
    `Batch alone (same data, 2 workers): median ${aloneMedian.toFixed(2)} s of ${alone.length}. Statuses: ${modes.map((m) => `${m.model}/guard ${m.guard} ${JSON.stringify(m.statuses)}`).join('; ')}.`,
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

const modeName = (m: ModeResult) => (m.model === 'closed' ? `closed loop, guard ${m.guard}` : `open ${m.rate} req/s, guard ${m.guard}`)

/** Per mode: latency and throughput over time with the batch window; then bars comparing the modes. */
function liveCharts(modes: ModeResult[], aloneMedian: number, aloneRuns: number): Chart[] {
  const guards = modes.map((m) => ({ label: modeName(m), mode: m }))
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
      title: 'Latency while the batch runs, per load model and guard',
      caption: 'Responses completed while the batch worker processes ran (the “in batch” columns of the table).',
      yLabel: 'latency ms',
      unit: ' ms',
      digits: 1,
      categories: [...latencies],
      series: guards.map(({ label, mode }) => ({ label, values: latencies.map((q) => mode.duringBatch[q]) })),
    },
    {
      kind: 'bars',
      title: 'Errors and deferred redemptions, per load model and guard',
      yLabel: 'responses',
      digits: 0,
      categories: ['5xx', 'timeouts', 'resets', '202 accepted'],
      series: guards.map(({ label, mode }) => ({ label, values: [mode.errors.status5xx, mode.errors.timeouts, mode.errors.resets, mode.accepted202] })),
    },
    {
      kind: 'bars',
      title: 'Batch time alone and under live traffic',
      caption: `Alone: median of ${aloneRuns} runs on the same data and 2 workers.`,
      yLabel: 'seconds (DB clock)',
      unit: ' s',
      categories: ['alone', ...guards.map(({ label }) => `with traffic, ${label}`)],
      series: [{ label: 'batch total', values: [aloneMedian, ...modes.map((m) => m.batchSeconds)] }],
    },
  ]
}
