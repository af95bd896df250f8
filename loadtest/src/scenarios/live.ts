import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import { auditBatch } from '@commerce/audit'
import { defaultGradePolicy, type Pool, type RowDataPacket } from '@commerce/db'
import { signToken } from '@commerce/kit'
import { readRunStatus, startBatchWorker } from '@commerce/local/batch'
import { localAuthSecret } from '@commerce/local/secret'
import { startStack } from '@commerce/local/stack'
import { runWindowOnLocalClock } from '../batch-timeline.ts'
import type { Band, Chart, LineSeries } from '../charts.ts'
import { machineInfo, markdownTable, median, writeReport } from '../report.ts'
import { bucketMsFor, latencyOverTime, summarize, throughputOverTime, type LatencySummary } from '../stats.ts'
import { resetBatchState, seededDatabase } from './batch.ts'

// `npm run bench -- live-during-batch`: the write-up's load test. 500 concurrent clients × 10
// loops of a realistic mix (profile, coupon list, redeem, place order) through nginx to 2
// replicas of each API, while the full monthly batch runs on 2 worker processes. Closed-loop,
// as the write-up's own scenario was. Measured with the guard on and, to show what it buys, off.
export interface LiveBenchOptions {
  baseUrl: string
  users: number
  orders: number
  connections: number
  loops: number
  /** Caps the clients' total request rate (req/s); 0 = as fast as they can (the write-up's way). */
  rate: number
  log: (line: string) => void
}

const period = '2026-10'
const previousPeriod = '2026-09'
/** Every third user holds one ISSUED grade coupon of the previous month: the redeem targets. */
const holdsCoupon = (userId: number) => userId % 3 === 0
const couponIdOf = (userId: number) => `01900000-0000-7000-8000-${userId.toString(16).padStart(12, '0')}`

async function giveOldCoupons(pool: Pool, users: number): Promise<void> {
  const rows: unknown[][] = []
  for (let id = 3; id <= users; id += 3) {
    rows.push([Buffer.from(couponIdOf(id).replaceAll('-', ''), 'hex'), id, 'GRADE', previousPeriod, 1, 3000, 'ISSUED', '2026-10-01 00:00:00', '2026-12-31 00:00:00'])
  }
  for (let i = 0; i < rows.length; i += 5_000) {
    await pool.query('INSERT INTO coupons (id, user_id, kind, period, slot, amount, status, issued_at, expires_at) VALUES ?', [rows.slice(i, i + 5_000)])
  }
}

interface ModeResult {
  guard: 'on' | 'off'
  requests: number
  errors: { status5xx: number; timeouts: number; resets: number }
  statuses: Record<string, number>
  accepted202: number
  overall: LatencySummary
  duringBatch: LatencySummary
  batchSeconds: number
  deferred: { count: number; pendingLeft: number; medianSeconds: number; maxSeconds: number }
  audit: boolean
  /** Per-second series for the charts; seconds since the traffic started. */
  timeline: { bucketMs: number; latency: LineSeries[]; throughput: LineSeries[]; batch: Band[] }
}

async function runMode(guard: 'on' | 'off', db: { url: string; pool: Pool }, options: LiveBenchOptions): Promise<ModeResult> {
  const { log } = options
  await resetBatchState(db.pool)
  await giveOldCoupons(db.pool, options.users)
  const stack = await startStack({ replicas: 2, batchWorkers: 0, databaseUrl: db.url, env: { LOG_LEVEL: 'warn', BATCH_GUARD_ENABLED: guard === 'on' ? 'true' : 'false' } })
  try {
    const secret = localAuthSecret()
    const tokens = new Map<number, string>()
    const tokenOf = (userId: number) => tokens.get(userId) ?? tokens.set(userId, `Bearer ${signToken(secret, { userId, role: 'user' })}`).get(userId)!
    const couponHolders = Math.floor(options.users / 3)
    let keyCounter = 0
    type Loop = { userId: number }
    const pick = (context: object): Loop => context as Loop

    const samples: { at: number; ms: number; status: number }[] = []
    /** When each timeout or reset happened, for the throughput chart's error line. */
    const failedAt: number[] = []
    const statuses: Record<string, number> = {}
    const deferredIds: string[] = []
    let timeouts = 0
    let resets = 0
    const started = performance.now()
    let settle: (result: autocannon.Result) => void = () => undefined
    let fail: (error: unknown) => void = () => undefined
    const finished = new Promise<autocannon.Result>((resolve, reject) => ([settle, fail] = [resolve, reject]))
    const instance = autocannon({
      url: stack.url,
      connections: options.connections,
      amount: options.connections * options.loops * 4,
      ...(options.rate > 0 ? { overallRate: options.rate } : {}),
      timeout: 10,
      requests: [
        {
          method: 'GET',
          setupRequest: (request, context) => {
            pick(context).userId = 3 * (1 + Math.floor(Math.random() * couponHolders))
            const { userId } = pick(context)
            return { ...request, path: `/users/${userId}`, headers: { authorization: tokenOf(userId) } }
          },
        },
        {
          method: 'GET',
          setupRequest: (request, context) => {
            const { userId } = pick(context)
            return { ...request, path: `/users/${userId}/coupons?status=ISSUED`, headers: { authorization: tokenOf(userId) } }
          },
        },
        {
          method: 'POST',
          setupRequest: (request, context) => {
            const { userId } = pick(context)
            return {
              ...request,
              path: `/coupons/${couponIdOf(userId)}/redeem`,
              headers: { authorization: tokenOf(userId), 'idempotency-key': `bench-${guard}-${++keyCounter}` },
            }
          },
          onResponse: (status, body) => {
            if (status === 202) deferredIds.push((JSON.parse(body) as { redemptionId: string }).redemptionId)
          },
        },
        {
          method: 'POST',
          setupRequest: (request, context) => {
            const { userId } = pick(context)
            return {
              ...request,
              path: `/users/${userId}/orders`,
              headers: { authorization: tokenOf(userId), 'content-type': 'application/json' },
              body: JSON.stringify({ amount: 12_000, category: 'books' }),
            }
          },
        },
      ],
    }, (error, result) => (error ? fail(error) : settle(result)))
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      samples.push({ at: performance.now() - started, ms: responseTime, status: statusCode })
      statuses[String(statusCode)] = (statuses[String(statusCode)] ?? 0) + 1
    })
    instance.on('reqError', (error: { code?: string }) => {
      failedAt.push(performance.now() - started)
      if (error.code === 'ECONNRESET') resets += 1
      else timeouts += 1
    })

    // The batch starts once the clients are all busy, and runs inside the traffic.
    await sleep(1_000)
    const batchStart = performance.now() - started
    log(`  guard ${guard}: traffic running, starting the batch on 2 workers`)
    const workers = [0, 1].map((index) => startBatchWorker(index, { databaseUrl: db.url, period, env: { LOG_LEVEL: 'warn' } }))
    const results = await Promise.all(workers.map((w) => w.finished))
    const batchEnd = performance.now() - started
    if (results.some((r) => r.code !== 0)) throw new Error(`a batch worker failed; see ${workers.map((w) => w.logFile).join(', ')}`)
    const result = await finished
    const status = await readRunStatus(db.pool, { period })
    const runWindow = status ? await runWindowOnLocalClock(db.pool, status.id, () => performance.now() - started, 'batch run (requested → completed)') : null

    // Every 202 must resolve: wait for the sweeper and the chunk commits to apply them.
    let pendingLeft = Number.POSITIVE_INFINITY
    for (let waited = 0; waited < 60_000 && pendingLeft > 0; waited += 100) {
      const [[row]] = await db.pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM coupon_redemptions WHERE status = 'PENDING'")
      pendingLeft = Number(row?.n)
      if (pendingLeft > 0) await sleep(100)
    }
    let resolution: number[] = []
    if (deferredIds.length > 0) {
      const [rows] = await db.pool.query<RowDataPacket[]>(
        `SELECT TIMESTAMPDIFF(MICROSECOND, requested_at, resolved_at) / 1e6 AS seconds FROM coupon_redemptions WHERE id IN (?) AND resolved_at IS NOT NULL`,
        [deferredIds.map((id) => Buffer.from(id.replaceAll('-', ''), 'hex'))],
      )
      resolution = rows.map((row) => Number(row.seconds))
    }
    const audit = await auditBatch(db.pool, { period, policy: defaultGradePolicy })
    const outcomes = [...samples, ...failedAt.map((at) => ({ at, status: 0 }))]
    const bucketMs = bucketMsFor(outcomes)
    const status5xx = Object.entries(statuses).filter(([code]) => code.startsWith('5')).reduce((sum, [, n]) => sum + n, 0)
    log(`  guard ${guard}: ${result.requests.total} requests, ${status5xx} × 5xx, ${timeouts} timeouts, ${resets} resets, ${deferredIds.length} × 202, audit ${audit.ok ? 'ok' : 'FAILED'}`)
    return {
      guard,
      requests: samples.length,
      errors: { status5xx, timeouts, resets },
      statuses,
      accepted202: deferredIds.length,
      overall: summarize(samples.map((s) => s.ms)),
      duringBatch: summarize(samples.filter((s) => s.at >= batchStart && s.at <= batchEnd).map((s) => s.ms)),
      batchSeconds: status?.totalSeconds ?? NaN,
      deferred: { count: deferredIds.length, pendingLeft, medianSeconds: median(resolution), maxSeconds: resolution.length ? Math.max(...resolution) : NaN },
      audit: audit.ok,
      timeline: {
        bucketMs,
        latency: latencyOverTime(samples, bucketMs),
        throughput: throughputOverTime(outcomes, bucketMs),
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
  return (await readRunStatus(db.pool, { period }))?.totalSeconds ?? NaN
}

export async function benchLiveDuringBatch(options: LiveBenchOptions): Promise<string> {
  const { log } = options
  log(`seeding ${options.users.toLocaleString('en')} users / ${options.orders.toLocaleString('en')} orders`)
  const db = await seededDatabase(options.baseUrl, 'bench_live', options.users, options.orders)
  const machine = await machineInfo(db.pool)
  const alone: number[] = []
  for (let i = 0; i < 3; i++) alone.push(await batchAlone(db, options.users))
  log(`  batch alone: ${alone.map((s) => s.toFixed(2)).join(', ')} s`)
  const modes = [await runMode('on', db, options), await runMode('off', db, options)]
  await db.pool.end()

  const aloneMedian = median(alone)
  const ms = (n: number) => n.toFixed(1)
  const rows = modes.map((m) => ({
    guard: m.guard,
    requests: m.requests,
    '5xx': m.errors.status5xx,
    timeouts: m.errors.timeouts,
    resets: m.errors.resets,
    '202': m.accepted202,
    'mean ms': ms(m.overall.mean),
    'p50 ms': ms(m.overall.p50),
    'p99 ms': ms(m.overall.p99),
    'max ms': ms(m.overall.max),
    'mean ms in batch': ms(m.duringBatch.mean),
    'p99 ms in batch': ms(m.duringBatch.p99),
    'batch s': m.batchSeconds.toFixed(2),
    'batch slowdown': `${(((m.batchSeconds - aloneMedian) / aloneMedian) * 100).toFixed(0)} %`,
    '202 resolved in (median / max s)': m.accepted202 ? `${m.deferred.medianSeconds.toFixed(2)} / ${m.deferred.maxSeconds.toFixed(2)}` : '-',
    audit: m.audit ? 'ok' : 'FAILED',
  }))
  const markdown = [
    `# Live APIs during the batch — ${machine.date}`,
    '',
    `Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.database}. Load generator on the same machine.`,
    `Closed-loop (as in the write-up)${options.rate > 0 ? `, capped at ${options.rate} req/s in total` : ', no pause between requests'}: ${options.connections} connections × ${options.loops} loops × 4 requests (profile, coupon list, redeem, place order) through nginx to 2 replicas per API, while the 2026-10 batch runs on 2 worker processes over ${options.users.toLocaleString('en')} users / ${options.orders.toLocaleString('en')} orders.`,
    `Batch alone (same data, 2 workers): median ${aloneMedian.toFixed(2)} s of ${alone.length}. Statuses: ${modes.map((m) => `guard ${m.guard} ${JSON.stringify(m.statuses)}`).join('; ')}.`,
    '',
    markdownTable(rows),
  ].join('\n')
  const dir = writeReport('live-during-batch', { machine, options: { ...options, log: undefined }, alone, modes }, markdown, liveCharts(modes, aloneMedian, alone.length))
  log(markdown)
  if (modes.some((m) => !m.audit)) throw new Error(`an audit failed; see ${dir}`)
  return dir
}

const bucketName = (ms: number) => (ms === 1000 ? 'second' : `${ms} ms`)

/** Per guard mode: latency and throughput over time with the batch window; then on-vs-off bars. */
function liveCharts(modes: ModeResult[], aloneMedian: number, aloneRuns: number): Chart[] {
  const guards = modes.map((m) => ({ label: `guard ${m.guard}`, mode: m }))
  const overTime = modes.flatMap((m): Chart[] => [
    {
      kind: 'timeseries',
      title: `Latency over time, guard ${m.guard}`,
      caption: `p50/p90/p99 of the responses completed in each ${bucketName(m.timeline.bucketMs)}. Closed loop: latency is measured from when each request was sent.`,
      xLabel: 'seconds since the traffic started',
      yLabel: 'latency ms',
      yScale: 'log',
      series: m.timeline.latency,
      bands: m.timeline.batch,
    },
    {
      kind: 'timeseries',
      title: `Throughput by status, guard ${m.guard}`,
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
      title: 'Latency while the batch runs: guard on vs off',
      caption: 'Responses completed while the batch worker processes ran (the “in batch” columns of the table).',
      yLabel: 'latency ms',
      unit: ' ms',
      digits: 1,
      categories: [...latencies],
      series: guards.map(({ label, mode }) => ({ label, values: latencies.map((q) => mode.duringBatch[q]) })),
    },
    {
      kind: 'bars',
      title: 'Errors and deferred redemptions: guard on vs off',
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
