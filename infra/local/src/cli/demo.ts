import { parseArgs } from 'node:util'
import { request } from 'undici'
import { setTimeout as sleep } from 'node:timers/promises'
import { auditBatch, formatAudit } from '@commerce/audit'
import { createPool, defaultGradePolicy, type RowDataPacket } from '@commerce/db'
import { seedData } from '@commerce/db/seed'
import { readRunStatus, startBatchWorker } from '../batch.ts'
import { startStack, type Stack } from '../stack.ts'
import { fail } from './fail.ts'

// `npm run demo`: the whole story on one machine. Today: stack up, 30k users / 1M orders,
// every replica registered and answering through nginx, the monthly batch on 2 worker
// processes, its audit, then everything torn down.
function parseFlags() {
  try {
    return parseArgs({
      options: {
        users: { type: 'string', default: '30000' },
        orders: { type: 'string', default: '1000000' },
        period: { type: 'string', default: '2026-10' },
      },
      strict: true,
    }).values
  } catch (error) {
    fail(error)
  }
}
const values = parseFlags()

const started = performance.now()
const step = (line: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}`)

let stack: Stack | undefined
let stopping = false
async function tearDown(exitCode: number): Promise<never> {
  if (!stopping) {
    stopping = true
    step('tearing down')
    await stack?.stop({ stopDatabase: true })
  }
  process.exit(exitCode)
}
process.once('SIGINT', () => void tearDown(130))
process.once('SIGTERM', () => void tearDown(143))

try {
  step('starting the local stack (MariaDB, migrate job, 2 replicas per API, 1 batch worker, nginx)')
  stack = await startStack({ onProgress: (line) => step(`  ${line}`) })

  step(`seeding ${values.users} users / ${values.orders} orders for ${values.period}`)
  let lastDecile = -1
  const seeded = await seedData({
    url: stack.databaseUrl,
    users: Number(values.users),
    orders: Number(values.orders),
    period: values.period,
    seed: 1,
    reset: true,
    onProgress: (done, total) => {
      const decile = Math.floor((done / total) * 10)
      if (decile > lastDecile) {
        lastDecile = decile
        step(`  ${String(decile * 10).padStart(3)} %  ${done.toLocaleString('en')} / ${total.toLocaleString('en')} orders`)
      }
    },
  })
  const share = (n: number) => `${((n / seeded.users) * 100).toFixed(1)} %`
  step(
    `  seeded in ${seeded.seconds.toFixed(1)} s — grades the data implies: VIP ${share(seeded.grades.VIP)}, GOLD ${share(seeded.grades.GOLD)}, SILVER ${share(seeded.grades.SILVER)}, BRONZE ${share(seeded.grades.BRONZE)}`,
  )

  step(`asking every service through nginx (${stack.url}) which replica answers`)
  const rows: string[][] = []
  for (const service of ['user-api', 'coupon-api', 'event-apply', 'batch-worker']) {
    const seen = new Set<string>()
    for (let i = 0; i < 8; i++) {
      const response = await request(`${stack.url}/ops/${service}/health`)
      const body = (await response.body.json()) as { instanceId: string }
      seen.add(body.instanceId)
    }
    rows.push([service, String(seen.size), [...seen].map((id) => id.slice(-8)).join(', ')])
  }
  console.table(rows.map(([service, replicas, ids]) => ({ service, 'replicas answering': replicas, 'instance ids (tail)': ids })))

  step('was_instances, read from the database')
  const pool = createPool({ url: stack.databaseUrl, role: 'api' })
  const [members] = await pool.query<RowDataPacket[]>(
    `SELECT service, COUNT(*) AS replicas, ROUND(MAX(TIMESTAMPDIFF(MICROSECOND, last_heartbeat, NOW(6))) / 1000) AS oldest_heartbeat_ms
       FROM was_instances GROUP BY service ORDER BY service`,
  )
  console.table(members.map((row) => ({ ...row })))

  step(`monthly batch for ${values.period} on 2 worker processes (npm run batch -- --period ${values.period} --workers 2)`)
  const workers = [0, 1].map((index) => startBatchWorker(index, { databaseUrl: stack!.databaseUrl, period: values.period, env: { LOG_LEVEL: 'warn' } }))
  let finished = false
  const outcomes = Promise.all(workers.map((w) => w.finished)).finally(() => (finished = true))
  let reported = -1
  while (!finished) {
    const status = await readRunStatus(pool, { period: values.period }).catch(() => null)
    if (status?.chunks && status.chunksDone !== reported) {
      reported = status.chunksDone
      step(`  ${status.status.padEnd(9)} ${status.chunksDone}/${status.chunks} chunks done`)
    }
    await Promise.race([sleep(100), outcomes])
  }
  const results = await outcomes
  if (results.some((r) => r.code !== 0)) throw new Error(`a batch worker failed; see ${workers.map((w) => w.logFile).join(', ')}`)
  const run = await readRunStatus(pool, { period: values.period })
  console.table(
    results.map((r, index) => ({ worker: index, planned: r.report?.planned, chunks: r.report?.chunksDone, targets: r.report?.targets, 'coupons issued': r.report?.couponsIssued, 'peak RSS MB': r.report?.maxRssMb })),
  )
  step(
    `  ${run?.status}: ${run?.targets} targets in ${run?.chunks} chunks, ${run?.couponsIssued} coupons issued; ${run?.totalSeconds?.toFixed(2)} s from request to COMPLETED (plan ${run?.planSeconds?.toFixed(2)} s)`,
  )
  step('auditing the batch from scratch (grades recomputed, coupons, chunks exactly once)')
  const audit = await auditBatch(pool, { period: values.period, policy: defaultGradePolicy })
  console.log(formatAudit(audit))
  await pool.end()
  if (!audit.ok) throw new Error('the audit failed')
  await tearDown(0)
} catch (error) {
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`)
  await tearDown(1)
}
