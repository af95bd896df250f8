import { v7 as uuidv7 } from 'uuid'
import { auditBatch } from '@commerce/audit'
import { createPool, dropDatabase, migrateDatabase, uuidToBytes, withDatabase, type Pool, type RowDataPacket } from '@commerce/db'
import { defaultGradePolicy, parsePeriod } from '@commerce/domain'
import { derivedTables, seedData } from '@commerce/local/seed-data'
import { readRunProgress, startBatchWorker } from '@commerce/local/batch'
import { treeBatchEntry, type AgainstTree } from '../against.ts'
import { rowByRowWorkerScript } from '../baselines/row-by-row-batch.ts'
import { batchGantt, readBatchTimeline, type BatchTimeline } from '../batch-timeline.ts'
import type { Chart } from '../charts.ts'
import { machineInfo, markdownTable, median, writeReport } from '../report.ts'

// `npm run bench -- batch`: the write-up's timeline table on this machine. Every strategy on the
// same seeded data, each run audited, medians of repeated runs, ratios to naive (same scale) and
// to a floor measured in the same run (one aggregation scan + one bulk write of the same rows).
export interface BatchBenchOptions {
  baseUrl: string
  users: number
  orders: number
  /** naive is row by row: it runs on a reduced data set, stated in the report. */
  naiveUsers: number
  naiveOrders: number
  repetitions: number
  workers: number[]
  /** Which of bulk, batched, naive to run (default all). */
  strategies?: string[]
  /** An earlier commit whose bulk runs beside this one's, interleaved, in the same run. */
  against?: AgainstTree
  log: (line: string) => void
}

/** What one row of the table runs: a strategy, through an entry (this checkout's or an earlier tree's). */
interface Variant {
  name: string
  strategy: string
  /** The worker entry (startBatchWorker's script); undefined: batch-worker's own. */
  script: string | undefined
}

const period = '2026-10'

interface Measured {
  strategy: string
  scale: string
  workers: number
  totalSeconds: number
  planSeconds: number
  processSeconds: number
  wallSeconds: number
  maxRssMb: number
  audit: boolean
}

/**
 * Puts the data back to "before the batch": grades BRONZE, nothing the batch writes; and no
 * member rows (one-shot workers leave theirs), unless live replicas are beside it (`members: false`).
 */
export async function resetBatchState(pool: Pool, { members = true }: { members?: boolean } = {}): Promise<void> {
  await pool.query("UPDATE users SET grade = 'BRONZE', grade_updated_at = NULL WHERE grade <> 'BRONZE' OR grade_updated_at IS NOT NULL")
  for (const table of [...derivedTables, ...(members ? ['was_instances'] : [])]) {
    await pool.query(`TRUNCATE TABLE ${table}`)
  }
}

async function runOnce(
  pool: Pool,
  url: string,
  variant: Variant,
  workers: number,
  scale: string,
): Promise<{ measured: Measured; timeline: BatchTimeline | null }> {
  await resetBatchState(pool)
  const started = performance.now()
  const processes = Array.from({ length: workers }, (_, index) =>
    startBatchWorker(index, { databaseUrl: url, period, strategy: variant.strategy, script: variant.script, env: { LOG_LEVEL: 'warn' } }),
  )
  const results = await Promise.all(processes.map((p) => p.finished))
  const wallSeconds = (performance.now() - started) / 1000
  const failed = results.findIndex((r) => r.code !== 0)
  if (failed >= 0) throw new Error(`batch worker ${failed} exited with ${results[failed]?.code ?? results[failed]?.signal}; see ${processes[failed]?.logFile}`)
  const status = await readRunProgress(pool, { period })
  const audit = await auditBatch(pool, { period, policy: defaultGradePolicy })
  // Read now: the next run's reset truncates step_execution_log.
  const timeline = status ? await readBatchTimeline(pool, status.id) : null
  const measured = {
    strategy: variant.name,
    scale,
    workers,
    totalSeconds: status?.totalSeconds ?? NaN,
    planSeconds: status?.planSeconds ?? NaN,
    processSeconds: status?.processSeconds ?? NaN,
    wallSeconds,
    maxRssMb: Math.max(...results.map((r) => r.report?.maxRssMb ?? 0)),
    audit: audit.ok,
  }
  return { measured, timeline }
}

/**
 * The least work any implementation must do, measured on the same data: one aggregation scan
 * of the month's orders, then one bulk write of the same output rows (grade_history rows,
 * user grade updates, coupon rows) with nothing else around it. Rolled back afterwards.
 */
async function measureFloor(pool: Pool): Promise<{ seconds: number; scanSeconds: number; writeSeconds: number; rows: number }> {
  await resetBatchState(pool)
  const range = parsePeriod(period)!
  const { thresholds, coupons } = defaultGradePolicy
  const conn = await pool.getConnection()
  try {
    const scanStart = performance.now()
    const [totals] = await conn.query<RowDataPacket[]>(
      `SELECT user_id, SUM(amount) AS total, COUNT(*) AS n FROM orders FORCE INDEX (idx_orders_user_time)
       WHERE ordered_at >= ? AND ordered_at < ? AND status = 'PAID' GROUP BY user_id`,
      [range.start, range.end],
    )
    const scanSeconds = (performance.now() - scanStart) / 1000
    const graded = totals
      .map((row) => ({ userId: row.user_id as number, total: Number(row.total), n: Number(row.n) }))
      .map((row) => ({
        ...row,
        grade: row.total >= thresholds.VIP ? 'VIP' : row.total >= thresholds.GOLD ? 'GOLD' : row.total >= thresholds.SILVER ? 'SILVER' : 'BRONZE',
      }))
      .filter((row) => row.grade !== 'BRONZE') as { userId: number; total: number; n: number; grade: 'VIP' | 'GOLD' | 'SILVER' }[]
    const writeStart = performance.now()
    await conn.beginTransaction()
    const batches = <T>(rows: T[], size = 5_000) => Array.from({ length: Math.ceil(rows.length / size) }, (_, i) => rows.slice(i * size, (i + 1) * size))
    for (const batch of batches(graded)) {
      await conn.query('INSERT INTO grade_history (user_id, period, from_grade, to_grade, total, order_count) VALUES ?', [
        batch.map((r) => [r.userId, period, 'BRONZE', r.grade, r.total, r.n]),
      ])
      await conn.query(`UPDATE users SET grade = CASE id ${batch.map(() => 'WHEN ? THEN ?').join(' ')} END WHERE id IN (?)`, [
        ...batch.flatMap((r) => [r.userId, r.grade]),
        batch.map((r) => r.userId),
      ])
    }
    const couponRows = graded.flatMap((r) =>
      Array.from({ length: coupons[r.grade].count }, (_, slot) => [
        uuidToBytes(uuidv7()),
        r.userId,
        'GRADE',
        period,
        slot + 1,
        coupons[r.grade].amount,
        'ISSUED',
        new Date(),
        range.couponExpiresAt,
      ]),
    )
    for (const batch of batches(couponRows)) {
      await conn.query('INSERT INTO coupons (id, user_id, kind, period, slot, amount, status, issued_at, expires_at) VALUES ?', [batch])
    }
    await conn.commit()
    const writeSeconds = (performance.now() - writeStart) / 1000
    return { seconds: scanSeconds + writeSeconds, scanSeconds, writeSeconds, rows: graded.length * 2 + couponRows.length }
  } finally {
    conn.release()
    await resetBatchState(pool)
  }
}

export async function seededDatabase(baseUrl: string, name: string, users: number, orders: number) {
  const url = withDatabase(baseUrl, name)
  await dropDatabase(url).catch(() => undefined)
  await migrateDatabase(url)
  const seeded = await seedData({ url, users, orders, period, seed: 1, reset: true })
  return { url, pool: createPool({ url, role: 'tool', connectionLimit: 2 }), seedSeconds: seeded.seconds }
}

export async function benchBatch(options: BatchBenchOptions): Promise<string> {
  const { log, repetitions } = options
  const full = `${options.users.toLocaleString('en')} users / ${options.orders.toLocaleString('en')} orders`
  const reduced = `${options.naiveUsers.toLocaleString('en')} users / ${options.naiveOrders.toLocaleString('en')} orders`
  const measured: Measured[] = []
  /** The last run of each strategy at each scale and worker count, for the gantt charts. */
  const timelines = new Map<string, { measured: Measured; timeline: BatchTimeline }>()
  const wanted = new Set(options.strategies ?? ['bulk', 'batched', 'naive'])
  // bulk runs batch-worker's own compiled entry, as production does; the row-by-row ones need the baseline's entry.
  const variant = (strategy: string): Variant => ({ name: strategy, strategy, script: strategy === 'bulk' ? undefined : rowByRowWorkerScript })
  const before: Variant | undefined = options.against && {
    name: `bulk @ ${options.against.label}`,
    strategy: 'bulk',
    script: treeBatchEntry(options.against),
  }
  /** `repetitions` runs of each variant, interleaved (a, b, a, b, …) so drift on the machine hits both alike. */
  const repeat = async (pool: Pool, url: string, variants: (Variant | undefined | false)[], workers: number, scale: string) => {
    const chosen = variants.filter((v): v is Variant => v !== undefined && v !== false && (wanted.has(v.strategy) || v === before))
    for (let i = 0; i < repetitions; i++) {
      for (const v of chosen) {
        const { measured: result, timeline } = await runOnce(pool, url, v, workers, scale)
        if (timeline) timelines.set(`${v.name}|${scale}|${workers}`, { measured: result, timeline })
        log(
          `  ${v.name.padEnd(7)} ${workers} worker(s) @ ${scale}: ${result.totalSeconds.toFixed(2)} s in the DB, ${result.wallSeconds.toFixed(2)} s wall, audit ${result.audit ? 'ok' : 'FAILED'}`,
        )
        measured.push(result)
      }
    }
  }

  log(`seeding ${full}`)
  const big = await seededDatabase(options.baseUrl, 'bench_batch', options.users, options.orders)
  const machine = await machineInfo(big.pool)
  log(`  seeded in ${big.seedSeconds.toFixed(1)} s`)
  const floors = []
  for (let i = 0; i < repetitions; i++) floors.push(await measureFloor(big.pool))
  const floor = median(floors.map((f) => f.seconds))
  log(`  floor (aggregation scan + bulk write of ${floors[0]?.rows} rows): ${floor.toFixed(2)} s`)
  const workersForNaive = Math.max(...options.workers)
  const naiveAtFullScale = options.naiveUsers === options.users && options.naiveOrders === options.orders
  for (const workers of options.workers) {
    await repeat(big.pool, big.url, [variant('bulk'), before, variant('batched')], workers, full)
  }
  if (naiveAtFullScale) await repeat(big.pool, big.url, [variant('naive')], workersForNaive, full)
  await big.pool.end()

  if (!naiveAtFullScale && wanted.has('naive')) {
    log(`seeding the reduced scale for naive: ${reduced}`)
    const small = await seededDatabase(options.baseUrl, 'bench_batch_small', options.naiveUsers, options.naiveOrders)
    await repeat(small.pool, small.url, [variant('naive'), variant('bulk')], workersForNaive, reduced)
    await small.pool.end()
  }

  const groups = new Map<string, Measured[]>()
  for (const m of measured) groups.set(`${m.strategy}|${m.scale}|${m.workers}`, [...(groups.get(`${m.strategy}|${m.scale}|${m.workers}`) ?? []), m])
  const naiveMedian = median(measured.filter((m) => m.strategy === 'naive').map((m) => m.totalSeconds))
  const beforeMedian = (scale: string, workers: number) =>
    median(measured.filter((m) => m.strategy === before?.name && m.scale === scale && m.workers === workers).map((m) => m.totalSeconds))
  const rows = [...groups.values()].map((runs) => {
    const first = runs[0]!
    const total = median(runs.map((r) => r.totalSeconds))
    return {
      strategy: first.strategy,
      data: first.scale,
      workers: first.workers,
      runs: runs.length,
      'median total s (DB clock)': total.toFixed(2),
      'plan s': median(runs.map((r) => r.planSeconds)).toFixed(2),
      'process s (incl. publish delay)': median(runs.map((r) => r.processSeconds)).toFixed(2),
      'wall s (incl. process start)': median(runs.map((r) => r.wallSeconds)).toFixed(2),
      'naive ÷ this': first.scale === reduced && first.workers === workersForNaive && Number.isFinite(naiveMedian) ? (naiveMedian / total).toFixed(1) : '',
      'this ÷ floor': first.scale === full ? (total / floor).toFixed(2) : '',
      ...(before ? { [`this ÷ ${before.name}`]: first.strategy.startsWith('bulk') ? (total / beforeMedian(first.scale, first.workers)).toFixed(2) : '' } : {}),
      'peak RSS MB': Math.max(...runs.map((r) => r.maxRssMb)),
      audit: runs.every((r) => r.audit) ? 'ok' : 'FAILED',
    }
  })
  const markdown = [
    `# Batch benchmark — ${machine.date}`,
    '',
    `Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}, ${machine.database}.`,
    `Period ${period}; ${repetitions} runs per row; every run audited. naive runs on ${reduced}${naiveAtFullScale ? ' (the full data)' : ', a reduced scale, next to bulk on the same data'}. Totals are on the DB clock from the run's request to COMPLETED and include the 0.5 s publish delay (DESIGN §6.2 step 3); wall adds starting the worker processes.`,
    `Floor (same run, ${full}): ${floor.toFixed(2)} s = aggregation scan ${median(floors.map((f) => f.scanSeconds)).toFixed(2)} s + bulk write of ${floors[0]?.rows} rows ${median(floors.map((f) => f.writeSeconds)).toFixed(2)} s.`,
    `Seed of ${full}: ${big.seedSeconds.toFixed(1)} s.`,
    ...(before
      ? [`Against ${options.against?.label}: its bulk (its own batch-worker entry, on this schema) ran interleaved with this checkout's, run for run.`]
      : []),
    '',
    markdownTable(rows),
  ].join('\n')
  const dir = writeReport(
    'batch',
    { machine, options: { ...options, log: undefined, against: options.against?.label }, floor: floors, runs: measured, table: rows },
    markdown,
    batchCharts(measured, timelines, repetitions, workersForNaive, full),
  )
  log(markdown)
  if (rows.some((row) => row.audit !== 'ok')) throw new Error(`an audit failed; see ${dir}`)
  return dir
}

/**
 * Strategy bars: one group per (data scale, worker count), one bar per strategy, median total
 * seconds. Gantt: per strategy, its last run with the most workers, to show how chunks spread.
 */
function batchCharts(
  measured: Measured[],
  timelines: Map<string, { measured: Measured; timeline: BatchTimeline }>,
  repetitions: number,
  mostWorkers: number,
  fullScale: string,
): Chart[] {
  const strategies = [...new Set(measured.map((m) => m.strategy))]
  const groups = [...new Set(measured.map((m) => `${m.workers}|${m.scale}`))]
  const bars: Chart = {
    kind: 'bars',
    title: `Batch time by strategy (median of ${repetitions} run${repetitions > 1 ? 's' : ''})`,
    caption:
      'Median total seconds on the DB clock, from the run request to COMPLETED (incl. the 0.5 s publish delay). Compare strategies within one group: groups differ in data or workers.',
    yLabel: 'seconds (DB clock)',
    unit: ' s',
    categories: groups.map((group) => {
      const [workers, scale] = group.split('|')
      return `${workers} worker${workers === '1' ? '' : 's'}\n${scale}`
    }),
    series: strategies.map((strategy) => ({
      label: strategy,
      values: groups.map((group) => {
        const runs = measured.filter((m) => m.strategy === strategy && `${m.workers}|${m.scale}` === group)
        return runs.length ? median(runs.map((m) => m.totalSeconds)) : null
      }),
    })),
  }
  const gantts = strategies.flatMap((strategy) => {
    // The full data where the strategy ran on it (naive may only have the reduced scale).
    const candidates = [...timelines.values()].filter(({ measured: m }) => m.strategy === strategy && m.workers === mostWorkers)
    const last = candidates.filter(({ measured: m }) => m.scale === fullScale).at(-1) ?? candidates.at(-1)
    return last ? [batchGantt(last.timeline, `Chunks per worker: ${strategy}, ${mostWorkers} worker${mostWorkers > 1 ? 's' : ''}, ${last.measured.scale}`)] : []
  })
  return [bars, ...gantts]
}
