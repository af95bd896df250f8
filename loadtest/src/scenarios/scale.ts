import { auditBatch } from '@commerce/audit'
import type { Pool } from '@commerce/db'
import { defaultGradePolicy } from '@commerce/domain'
import { signToken } from '@commerce/kit'
import { awaitRunEnd, requestBatchRun, type RunProgress } from '@commerce/local/batch'
import { localAuthSecret } from '@commerce/local/secret'
import { startStack } from '@commerce/local/stack'
import type { Chart } from '../charts.ts'
import { createLiveMix, livePeriod } from '../live-mix.ts'
import { runOpenModel } from '../open-model.ts'
import { machineInfo, markdownTable, writeReport, type MachineInfo } from '../report.ts'
import { statusCounts, summarize } from '../stats.ts'
import { resetBatchState, seededDatabase } from './batch.ts'
import { probeGuard, type GuardProbe } from './guard-load.ts'
import { stackEnv } from './live.ts'

// `npm run bench -- scale --factors 1,3,10`: the same measurements at 30k users / 1M orders times
// each factor, on this machine: seed, the monthly run on 2 batch-worker daemons (plan and chunks),
// one API replica's guard loading that run's targets, reads through nginx without and during a
// run, and the auditor. Each figure's growth exponent is the slope of log(figure) over
// log(factor): 1 is linear, 0 flat, above 1 worse than linear.

export interface ScaleBenchOptions {
  baseUrl: string
  factors: number[]
  /** Reads per second (profile and coupon list) through nginx, open model. */
  rate: number
  log: (line: string) => void
}

const baseUsers = 30_000
const baseOrders = 1_000_000
/** Reads alone before the run ("no batch"), and after it. */
const calmSeconds = 10
const tailSeconds = 2
const warmUpSeconds = 3
const runTimeoutMs = 60 * 60_000

export interface AtFactor {
  machine: MachineInfo
  factor: number
  users: number
  orders: number
  seedSeconds: number
  alone: RunProgress
  guard: GuardProbe
  auditSeconds: number
  audit: boolean
  reads: { requests: number; errors: number; statuses: Record<string, number>; p99NoBatch: number; p99InBatch: number; meanInBatch: number }
  withReads: RunProgress
  auditWithReads: boolean
}

async function timedAudit(pool: Pool): Promise<{ ok: boolean; seconds: number }> {
  const started = performance.now()
  const audit = await auditBatch(pool, { period: livePeriod, policy: defaultGradePolicy })
  return { ok: audit.ok, seconds: (performance.now() - started) / 1000 }
}

async function atFactor(options: ScaleBenchOptions, factor: number): Promise<AtFactor> {
  const { log } = options
  const users = Math.round(baseUsers * factor)
  const orders = Math.round(baseOrders * factor)
  log(`${factor}×: seeding ${users.toLocaleString('en')} users / ${orders.toLocaleString('en')} orders`)
  const db = await seededDatabase(options.baseUrl, `bench_scale_${String(factor).replace('.', '_')}`, users, orders)
  log(`  seeded in ${db.seedSeconds.toFixed(1)} s`)
  // The daemons as deployed (paced, no schedule: the bench requests each run).
  const stack = await startStack({ replicas: 2, batchWorkers: 2, databaseUrl: db.url, env: stackEnv('paced') })
  const admin = signToken(localAuthSecret(), { userId: 1, role: 'admin' })
  try {
    // The run alone: no traffic, so pacing lets it go flat out.
    const alone = await awaitRunEnd(db.pool, await requestBatchRun(stack.url, admin, livePeriod), { timeoutMs: runTimeoutMs })
    if (alone.status !== 'COMPLETED') throw new Error(`the run at ${factor}× ended ${alone.status}; see .local/logs`)
    const guard = await probeGuard(db.url, 'stored', alone.id)
    // A wrong run or an empty set would load fast too: the figure counts only for the run's own targets.
    if (guard.targets !== alone.targets) throw new Error(`the guard loaded ${guard.targets} targets of run ${alone.id}, which planned ${alone.targets}`)
    const audit = await timedAudit(db.pool)
    log(
      `  run alone ${alone.totalSeconds?.toFixed(2)} s (plan ${alone.planSeconds?.toFixed(2)} s), guard ${guard.ms.toFixed(1)} ms / ${((guard.setBytes ?? Number.NaN) / 1024).toFixed(1)} KiB set (${(guard.retainedBytes / 1024).toFixed(0)} KiB heap), audit ${audit.seconds.toFixed(1)} s ${audit.ok ? 'ok' : 'FAILED'}`,
    )

    // The same run again under reads; the stack's replicas keep their member rows.
    await resetBatchState(db.pool, { members: false })
    const mix = createLiveMix(users, `scale-${factor}`)
    // Alternately a profile and a coupon list, each for a random coupon holder.
    const read = (index: number) => mix.request(index % 2, mix.randomUser())
    // Unmeasured: the replicas' read paths compile before the "no batch" window counts.
    await runOpenModel({ origin: stack.url, rate: options.rate, durationSec: warmUpSeconds, connections: 64, request: read })
    const stopReads = new AbortController()
    const started = performance.now()
    const readsDone = runOpenModel({
      origin: stack.url,
      rate: options.rate,
      durationSec: 3_600,
      connections: 64,
      signal: stopReads.signal,
      request: read,
    })
    await new Promise((resolve) => setTimeout(resolve, calmSeconds * 1000))
    const batchStart = performance.now() - started
    const withReads = await awaitRunEnd(db.pool, await requestBatchRun(stack.url, admin, livePeriod), { timeoutMs: runTimeoutMs })
    const batchEnd = performance.now() - started
    setTimeout(() => stopReads.abort(), tailSeconds * 1000)
    const reads = await readsDone
    const answered = reads.samples.filter((sample) => sample.status !== 0)
    const during = answered.filter((sample) => sample.at >= batchStart && sample.at <= batchEnd).map((sample) => sample.ms)
    const auditWithReads = await timedAudit(db.pool)
    const measured: AtFactor = {
      machine: await machineInfo(db.pool),
      factor,
      users,
      orders,
      seedSeconds: db.seedSeconds,
      alone,
      guard,
      auditSeconds: audit.seconds,
      audit: audit.ok,
      reads: {
        requests: reads.samples.length,
        errors: reads.samples.filter((sample) => sample.status === 0 || sample.status >= 500).length,
        statuses: statusCounts(reads.samples),
        p99NoBatch: summarize(answered.filter((sample) => sample.at < batchStart).map((sample) => sample.ms)).p99,
        p99InBatch: summarize(during).p99,
        meanInBatch: summarize(during).mean,
      },
      withReads,
      auditWithReads: auditWithReads.ok && withReads.status === 'COMPLETED',
    }
    log(
      `  under ${options.rate} reads/s: run ${withReads.totalSeconds?.toFixed(2)} s, read p99 ${measured.reads.p99NoBatch.toFixed(1)} ms no batch → ${measured.reads.p99InBatch.toFixed(1)} ms in batch, ${measured.reads.errors} errors, audit ${auditWithReads.ok ? 'ok' : 'FAILED'}`,
    )
    return measured
  } finally {
    await stack.stop({ stopDatabase: false })
    await db.pool.end()
  }
}

/** Least-squares slope of log(y) over log(x); NaN with fewer than two positive points. */
export function growthExponent(points: { x: number; y: number }[]): number {
  const logs = points.filter((p) => p.x > 0 && p.y > 0).map((p) => ({ x: Math.log(p.x), y: Math.log(p.y) }))
  if (logs.length < 2) return Number.NaN
  const mx = logs.reduce((sum, p) => sum + p.x, 0) / logs.length
  const my = logs.reduce((sum, p) => sum + p.y, 0) / logs.length
  const sxx = logs.reduce((sum, p) => sum + (p.x - mx) ** 2, 0)
  return sxx === 0 ? Number.NaN : logs.reduce((sum, p) => sum + (p.x - mx) * (p.y - my), 0) / sxx
}

/** The figures whose growth the report follows, each read off one factor's measurements. */
const figures: { name: string; unit: string; digits: number; of: (m: AtFactor) => number }[] = [
  { name: 'seed', unit: 's', digits: 1, of: (m) => m.seedSeconds },
  { name: 'run alone: plan', unit: 's', digits: 2, of: (m) => m.alone.planSeconds ?? Number.NaN },
  { name: 'run alone: chunks', unit: 's', digits: 2, of: (m) => m.alone.processSeconds ?? Number.NaN },
  { name: 'run alone: total', unit: 's', digits: 2, of: (m) => m.alone.totalSeconds ?? Number.NaN },
  { name: 'targets', unit: '', digits: 0, of: (m) => m.alone.targets ?? Number.NaN },
  { name: 'guard load', unit: 'ms', digits: 1, of: (m) => m.guard.ms },
  { name: 'guard memory (target set)', unit: 'KiB', digits: 1, of: (m) => (m.guard.setBytes ?? Number.NaN) / 1024 },
  { name: 'guard memory (heap retained)', unit: 'KiB', digits: 0, of: (m) => m.guard.retainedBytes / 1024 },
  { name: 'auditor', unit: 's', digits: 2, of: (m) => m.auditSeconds },
  { name: 'read p99, no batch', unit: 'ms', digits: 1, of: (m) => m.reads.p99NoBatch },
  { name: 'read p99, in batch', unit: 'ms', digits: 1, of: (m) => m.reads.p99InBatch },
  { name: 'run under reads: total', unit: 's', digits: 2, of: (m) => m.withReads.totalSeconds ?? Number.NaN },
]

const growthCharted = [
  'seed',
  'run alone: plan',
  'run alone: chunks',
  'guard load',
  'guard memory (target set)',
  'auditor',
  'read p99, no batch',
  'read p99, in batch',
]

/** `npm run bench -- scale`: every factor measured in turn on a database of its own. */
export async function benchScale(options: ScaleBenchOptions): Promise<string> {
  const measured: AtFactor[] = []
  for (const factor of options.factors) measured.push(await atFactor(options, factor))
  const { markdown, charts } = scaleReport(measured, options.rate)
  const dir = writeReport('scale', { machine: measured[0]!.machine, options: { ...options, log: undefined }, measured }, markdown, charts)
  options.log(markdown)
  if (measured.some((m) => !m.audit || !m.auditWithReads || m.reads.errors > 0)) throw new Error(`an audit failed or reads failed; see ${dir}`)
  return dir
}

/** The report of measured factors (at least one): tables, exponents and charts. */
export function scaleReport(measured: AtFactor[], rate: number): { markdown: string; charts: Chart[] } {
  const { machine } = measured[0]!
  const factorsText = measured.map((m) => `${m.factor}×`)
  const rows = figures.map((figure) => {
    const points = measured.map((m) => ({ x: m.factor, y: figure.of(m) }))
    const steps = points.slice(1).map((p, i) => `${growthExponent([points[i]!, p]).toFixed(2)}`)
    return {
      figure: figure.unit ? `${figure.name} (${figure.unit})` : figure.name,
      ...Object.fromEntries(points.map((p, i) => [factorsText[i]!, p.y.toLocaleString('en', { maximumFractionDigits: figure.digits })])),
      'growth exponent': growthExponent(points).toFixed(2),
      'between factors': steps.join(' → '),
    }
  })
  const checks = measured.map((m) => ({
    factor: `${m.factor}×`,
    'users / orders': `${m.users.toLocaleString('en')} / ${m.orders.toLocaleString('en')}`,
    'targets / chunks': `${m.alone.targets?.toLocaleString('en')} / ${m.alone.chunks}`,
    'coupons issued': m.alone.couponsIssued.toLocaleString('en'),
    reads: m.reads.requests,
    'read errors': m.reads.errors,
    statuses: JSON.stringify(m.reads.statuses),
    'read mean in batch ms': m.reads.meanInBatch.toFixed(1),
    audit: m.audit && m.auditWithReads ? 'ok' : 'FAILED',
  }))
  const markdown = [
    `# Scale — ${machine.date}`,
    '',
    `Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.database}; everything on this machine.`,
    `Each factor on a database of its own: ${baseUsers.toLocaleString('en')} users / ${baseOrders.toLocaleString('en')} orders × the factor, seeded (\`seed\`: the generator's own seconds), then a stack (nginx, 2 replicas per API, 2 batch-worker daemons as deployed, pacing on). The ${livePeriod} run requested alone (no traffic: pacing goes flat out; plan = its planning statements, chunks = published → COMPLETED, total = requested → COMPLETED, on the DB clock); one API replica's guard loading that run's stored target set in a fresh process (load ms; the set's own bytes, and the heap still held after a GC); the auditor over the result; then the run again while ${rate} reads/s (profile and coupon list, random users, open model) arrive through nginx: after an unmeasured ${warmUpSeconds}-s warm-up, ${calmSeconds} s of reads alone ("no batch"), then the run ("in batch").`,
    'Growth exponent: the least-squares slope of log(figure) over log(factor) — 1 is linear, 0 flat. "Between factors": the same slope from each factor to the next, which shows where growth stops being linear.',
    '',
    markdownTable(rows),
    '',
    markdownTable(checks),
  ].join('\n')
  const base = measured[0]!
  const growthChart: Chart = {
    kind: 'timeseries',
    title: 'Growth of each figure with the data (log-log)',
    caption: `Each figure divided by its value at ${base.factor}×; the black line is linear growth (slope 1). Above it: worse than linear.`,
    xLabel: 'data factor (× 30k users / 1M orders)',
    yLabel: `figure ÷ its value at ${base.factor}×`,
    xScale: 'log',
    yScale: 'log',
    series: [
      { label: 'linear (slope 1)', color: '#000000', points: measured.map((m) => ({ x: m.factor, y: m.factor / base.factor })) },
      // The figures that answer "how does it grow" (targets is the input; the retained heap and the runs' totals repeat others).
      ...figures
        .filter((figure) => growthCharted.includes(figure.name))
        .map((figure) => ({ label: figure.name, points: measured.map((m) => ({ x: m.factor, y: figure.of(m) / figure.of(base) })) })),
    ],
  }
  const barsOf = (title: string, yLabel: string, unit: string, chosen: string[]): Chart => ({
    kind: 'bars',
    title,
    yLabel,
    unit,
    digits: 2,
    categories: chosen,
    series: measured.map((m) => ({ label: `${m.factor}×`, values: chosen.map((name) => figures.find((f) => f.name === name)!.of(m)) })),
  })
  const charts: Chart[] = [
    growthChart,
    barsOf('Seconds per factor', 'seconds', ' s', ['seed', 'run alone: plan', 'run alone: chunks', 'auditor', 'run under reads: total']),
    barsOf('Read latency through nginx, without and during the run', 'ms', ' ms', ['read p99, no batch', 'read p99, in batch']),
    barsOf("One replica's guard at publish", 'ms / KiB', '', ['guard load', 'guard memory (target set)', 'guard memory (heap retained)']),
  ]
  return { markdown, charts }
}
