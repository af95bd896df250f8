import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { auditEvent, formatAudit } from '@commerce/audit'
import { createPool, type Pool, type RowDataPacket } from '@commerce/db'
import { drawSettleMs, periodPattern } from '@commerce/domain'
import { seedData } from '@commerce/local/seed-data'
import { signToken } from '@commerce/kit'
import { fail } from '@commerce/local/cli/fail'
import { answerHelp } from '@commerce/local/cli/help'
import { createEventThrough, floodEvent, type FloodResult } from '@commerce/local/flood'
import { localAuthSecret } from '@commerce/local/secret'
import { startStack, type Stack } from '@commerce/local/stack'
import { markdownTable, writeReport } from './report.ts'
import { batchWithoutTraffic, batchWithRestart, restartPassed, restartRows, restartStackEnv, type BatchWithRestart } from './scenarios/restart.ts'
import { summarize } from './stats.ts'

// `npm run demo`: the whole story on one machine. Stack up (2 replicas per API, 2 batch-worker
// daemons, nginx, MariaDB), 30k users / 1M orders, the monthly batch requested from the daemons
// while live API traffic runs, one worker killed mid-run and a fresh one joining, a shortened
// first-come event flood with its draw, every audit, a summary table and an HTML report, then
// everything torn down.
answerHelp(`
usage: npm run demo [-- --users 30000 --orders 1000000 --period 2026-10 --live-rate 300 --warmup 10 --calm 15 --event-requests 20000]
The whole story on one machine, torn down at the end; writes reports/<time>-demo/.
  --users, --orders   the seeded data (defaults 30,000 and 1,000,000)
  --period            the month the batch judges (default 2026-10)
  --live-rate         live API requests per second, without and during the batch (default 300, which a
                      2-core machine running the whole stack and the load generator sustains)
  --warmup, --calm    seconds of traffic before measuring, then measured without the batch (defaults 10, 15)
  --event-requests    requests of the first-come event flood (default 20,000)`)

function parseFlags() {
  try {
    const { values } = parseArgs({
      options: {
        users: { type: 'string', default: '30000' },
        orders: { type: 'string', default: '1000000' },
        period: { type: 'string', default: '2026-10' },
        'live-rate': { type: 'string', default: '300' },
        warmup: { type: 'string', default: '10' },
        calm: { type: 'string', default: '15' },
        'event-requests': { type: 'string', default: '20000' },
      },
      strict: true,
    })
    const int = (name: keyof typeof values, min: number) => {
      const n = Number(values[name])
      if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`)
      return n
    }
    if (!periodPattern.test(values.period)) throw new Error('--period must be YYYY-MM')
    return {
      users: int('users', 3),
      orders: int('orders', 0),
      period: values.period,
      liveRate: int('live-rate', 1),
      warmupSec: int('warmup', 0),
      calmSec: int('calm', 1),
      eventRequests: int('event-requests', 1),
    }
  } catch (error) {
    fail(error)
  }
}
const flags = parseFlags()

const started = performance.now()
const step = (line: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}`)

let stack: Stack | undefined
const stopTraffic = new AbortController()
let teardown: Promise<never> | undefined
/** Stops everything once; a second call (a second Ctrl-C) waits for the first instead of exiting early. */
function tearDown(exitCode: number): Promise<never> {
  teardown ??= (async () => {
    stopTraffic.abort()
    step('tearing down')
    await stack?.stop({ stopDatabase: true })
    process.exit(exitCode)
  })()
  return teardown
}
// `on`, not `once`: Ctrl-C reaches this process twice (from the terminal, and relayed by tsx),
// and a second SIGINT without a handler would kill it halfway through the teardown.
process.on('SIGINT', () => void tearDown(130))
process.on('SIGTERM', () => void tearDown(143))

interface EventChapter {
  requests: number
  rate: number
  p99: number
  errors: number
  statuses: FloodResult['statuses']
  winners: number
  audit: boolean
}

try {
  step('starting the local stack (MariaDB, migrate job, 2 replicas per API, 2 batch-worker daemons, nginx)')
  stack = await startStack({ batchWorkers: 2, env: restartStackEnv, onProgress: (line) => step(`  ${line}`) })
  const pool = createPool({ url: stack.databaseUrl, role: 'tool' })
  await seed(stack)
  await showReplicas(stack, pool)
  const admin = signToken(localAuthSecret(), { userId: 1, role: 'admin' })
  const batch = await batchWithRestart({
    stack,
    pool,
    admin,
    users: flags.users,
    period: flags.period,
    liveRate: flags.liveRate,
    warmupSec: flags.warmupSec,
    calmSec: flags.calmSec,
    signal: stopTraffic.signal,
    step,
  })
  step('the same run again with no traffic and no kill (batch state reset, same data and daemons)')
  const alone = await batchWithoutTraffic({ stack, pool, admin, users: flags.users, period: flags.period })
  step(`  ${alone.status}: ${alone.seconds.toFixed(2)} s from request to COMPLETED; audit ${alone.audit ? 'ok' : 'FAILED'}`)
  const event = await eventChapter(stack, pool, admin)
  await pool.end()

  const rows = summaryRows(batch, alone, event)
  step('summary')
  console.table(Object.fromEntries(rows.map((row) => [row.what, row.result])))
  const markdown = [
    `# npm run demo — ${new Date().toISOString()}`,
    '',
    `${flags.users.toLocaleString('en')} users / ${flags.orders.toLocaleString('en')} orders; 2 replicas per API and 2 batch-worker daemons behind nginx, on one machine with the load generator.`,
    '',
    markdownTable(rows),
  ].join('\n')
  const dir = writeReport('demo', { flags, batch, event }, markdown, batch.charts)
  step(`report: ${dir}/report.html (the same figures in report.md and report.json)`)
  const ok = restartPassed(batch) && alone.audit && event.audit && event.errors === 0
  if (!ok) throw new Error(`a check failed: see the summary above and ${dir}`)
  await tearDown(0)
} catch (error) {
  // After Ctrl-C the chapters stop by throwing; the teardown already under way decides the exit.
  if (!stopTraffic.signal.aborted) console.error(`error: ${error instanceof Error ? error.message : String(error)}`)
  await tearDown(1)
}

async function seed(stack: Stack): Promise<void> {
  step(`seeding ${flags.users.toLocaleString('en')} users / ${flags.orders.toLocaleString('en')} orders for ${flags.period}`)
  let lastDecile = -1
  const seeded = await seedData({
    url: stack.databaseUrl,
    users: flags.users,
    orders: flags.orders,
    period: flags.period,
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
}

async function showReplicas(stack: Stack, pool: Pool): Promise<void> {
  step(`asking every service through nginx (${stack.url}) which replica answers`)
  const rows: Record<string, string>[] = []
  for (const service of ['user-api', 'coupon-api', 'event-apply', 'batch-worker']) {
    const seen = new Set<string>()
    for (let i = 0; i < 8; i++) {
      const response = await request(`${stack.url}/ops/${service}/health`)
      seen.add(((await response.body.json()) as { instanceId: string }).instanceId)
    }
    rows.push({ service, 'replicas answering': String(seen.size), 'instance ids (tail)': [...seen].map((id) => id.slice(-8)).join(', ') })
  }
  console.table(rows)
  const [members] = await pool.query<RowDataPacket[]>(
    `SELECT service, COUNT(*) AS replicas, ROUND(MAX(TIMESTAMPDIFF(MICROSECOND, last_heartbeat, NOW(6))) / 1000) AS oldest_heartbeat_ms
       FROM was_instances GROUP BY service ORDER BY service`,
  )
  step('was_instances, read from the database: every replica registered and heartbeating')
  console.table(members.map((row) => ({ ...row })))
}

/** A shortened first-come event: a flood through nginx, the draw in the batch worker, the audit. */
async function eventChapter(stack: Stack, pool: Pool, admin: string): Promise<EventChapter> {
  const now = Date.now()
  const closesAt = new Date(now + 120_000)
  const eventId = await createEventThrough(stack.url, admin, {
    title: 'demo: first 100 win',
    opensAt: new Date(now - 1_000),
    closesAt,
    winnerQuota: 100,
    announceAt: closesAt,
  })
  const requests = flags.eventRequests
  step(
    `first-come event ${eventId}: quota 100; ${requests.toLocaleString('en')} applications from 256 clients through nginx to 2 event-apply replicas (10% repeated phones)`,
  )
  let lastDecile = 0
  const flood = await floodEvent({
    origin: stack.url,
    eventId,
    requests,
    connections: 256,
    onResponse: (_status, sofar) => {
      const decile = Math.floor((sofar.latencies.length / requests) * 10)
      if (decile > lastDecile) {
        lastDecile = decile
        step(`  ${String(decile * 10).padStart(3)} %  ${sofar.latencies.length.toLocaleString('en')} answered, ${sofar.acknowledged.length} accepted`)
      }
    },
  })
  const p99 = summarize(flood.latencies).p99
  const errors = [...flood.statuses].filter(([status]) => status === 0 || status >= 500).reduce((sum, [, n]) => sum + n, 0)
  const rate = requests / flood.seconds
  step(
    `  ${Math.round(rate).toLocaleString('en')} req/s (closed loop), p99 ${p99.toFixed(1)} ms, ${errors} errors; ${[...flood.statuses].map(([status, n]) => `${n.toLocaleString('en')} × ${status || 'network error'}`).join(', ')}`,
  )
  // Close the event now (instead of waiting out its window) and let in-flight group commits settle.
  await pool.query('UPDATE events SET closes_at = NOW(6), announce_at = NOW(6) WHERE id = ?', [eventId])
  step(`  closed; drawing once it has settled (${(drawSettleMs / 1000).toFixed(0)} s), when every application in flight has been written`)
  const draw = await drawWhenSettled(stack, admin, eventId)
  // The daemons poll for due draws too: whichever draws first, the outcome is the same draw.
  const by = draw.outcome === 'DRAWN' ? 'this request drew it' : "a daemon's own poll drew it first"
  step(`  drawn by a batch-worker daemon: ${draw.winners} winners (${by}); the first five (GET /events/${eventId}/winners):`)
  const listed = await request(`${stack.url}/events/${eventId}/winners`)
  const list = (await listed.body.json()) as { winners: { rank: number; name: string; phone: string }[] }
  console.table(list.winners.slice(0, 5))
  step('auditing the event (one entry per phone, every 201 stored, winners = the 100 earliest arrivals)')
  const audit = await auditEvent(pool, { eventId, acknowledged: flood.acknowledged, expectDrawn: true })
  console.log(formatAudit(audit))
  return { requests, rate, p99, errors, statuses: flood.statuses, winners: list.winners.length, audit: audit.ok }
}

/** Asks for the draw until the event has settled (EVENT_STILL_OPEN before), bounded. */
async function drawWhenSettled(stack: Stack, admin: string, eventId: number): Promise<{ outcome: 'DRAWN' | 'ALREADY_DRAWN'; winners: number }> {
  const deadline = Date.now() + drawSettleMs + 60_000
  for (;;) {
    const drawn = await request(`${stack.url}/ops/batch-worker/events/${eventId}/draw`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } })
    const answer = (await drawn.body.json()) as { outcome?: 'DRAWN' | 'ALREADY_DRAWN'; winners?: number; code?: string }
    if (drawn.statusCode === 200 && answer.outcome) return { outcome: answer.outcome, winners: answer.winners ?? 0 }
    if (answer.code !== 'EVENT_STILL_OPEN' || Date.now() > deadline) throw new Error(`the draw answered ${drawn.statusCode} ${answer.code ?? ''}`)
    await sleep(250)
  }
}

function summaryRows(batch: BatchWithRestart, alone: { seconds: number; audit: boolean }, event: EventChapter): { what: string; result: string }[] {
  const ms = (n: number) => `${n.toFixed(1)} ms`
  return [
    ...restartRows(batch),
    { what: 'the same batch without traffic or kill: request → COMPLETED', result: `${alone.seconds.toFixed(2)} s, audit ${alone.audit ? 'ok' : 'FAILED'}` },
    {
      what: 'event flood',
      result: `${event.requests.toLocaleString('en')} requests at ${Math.round(event.rate).toLocaleString('en')} req/s (closed loop, 256 clients), p99 ${ms(event.p99)}, ${event.errors} errors`,
    },
    { what: 'event winners', result: String(event.winners) },
    { what: 'event audit', result: event.audit ? 'ok' : 'FAILED' },
  ]
}
