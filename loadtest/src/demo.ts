import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { auditBatch, auditEvent, formatAudit } from '@commerce/audit'
import { createPool, defaultGradePolicy, drawSettleMs, type Pool, type RowDataPacket } from '@commerce/db'
import { seedData } from '@commerce/db/seed'
import { signToken } from '@commerce/kit'
import { readRunStatus, type RunStatus } from '@commerce/local/batch'
import { fail } from '@commerce/local/cli/fail'
import { createEventThrough, floodEvent, type FloodResult } from '@commerce/local/flood'
import { localAuthSecret } from '@commerce/local/secret'
import { startStack, type Stack } from '@commerce/local/stack'
import { batchGantt, readBatchTimeline, runWindowOnLocalClock } from './batch-timeline.ts'
import type { Band, Chart, Marker } from './charts.ts'
import { awaitDeferred, createLiveMix, giveOldCoupons, type DeferredOutcome } from './live-mix.ts'
import { runOpenModel, type OpenModelResult } from './open-model.ts'
import { markdownTable, writeReport } from './report.ts'
import { bucketMsFor, latencyOverTime, summarize, throughputOverTime, type LatencySummary } from './stats.ts'

// `npm run demo`: the whole story on one machine. Stack up (2 replicas per API, 2 batch-worker
// daemons, nginx, MariaDB), 30k users / 1M orders, the monthly batch requested from the daemons
// while live API traffic runs, one worker killed mid-run and a fresh one joining, a shortened
// first-come event flood with its draw, every audit, a summary table and an HTML report, then
// everything torn down.
function parseFlags() {
  try {
    const { values } = parseArgs({
      options: {
        users: { type: 'string', default: '30000' },
        orders: { type: 'string', default: '1000000' },
        period: { type: 'string', default: '2026-10' },
        'live-rate': { type: 'string', default: '500' },
        'event-requests': { type: 'string', default: '20000' },
      },
      strict: true,
    })
    const int = (name: keyof typeof values, min: number) => {
      const n = Number(values[name])
      if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`)
      return n
    }
    if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(values.period)) throw new Error('--period must be YYYY-MM')
    return { users: int('users', 3), orders: int('orders', 0), period: values.period, liveRate: int('live-rate', 1), eventRequests: int('event-requests', 1) }
  } catch (error) {
    fail(error)
  }
}
const flags = parseFlags()

const started = performance.now()
const step = (line: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}`)

let stack: Stack | undefined
const stopTraffic = new AbortController()
let stopping = false
async function tearDown(exitCode: number): Promise<never> {
  if (!stopping) {
    stopping = true
    stopTraffic.abort()
    step('tearing down')
    await stack?.stop({ stopDatabase: true })
  }
  process.exit(exitCode)
}
process.once('SIGINT', () => void tearDown(130))
process.once('SIGTERM', () => void tearDown(143))

interface BatchChapter {
  run: RunStatus
  audit: boolean
  killedAt: number
  joinedAt: number
  traffic: OpenModelResult
  duringBatch: LatencySummary
  deferred: DeferredOutcome
  charts: Chart[]
}

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
  stack = await startStack({ batchWorkers: 2, env: { LOG_LEVEL: 'warn' }, onProgress: (line) => step(`  ${line}`) })
  const pool = createPool({ url: stack.databaseUrl, role: 'api' })
  await seed(stack)
  await showReplicas(stack, pool)
  const admin = signToken(localAuthSecret(), { userId: 1, role: 'admin' })
  const batch = await batchChapter(stack, pool, admin)
  const event = await eventChapter(stack, pool, admin)
  await pool.end()

  const rows = summaryRows(batch, event)
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
  const ok = batch.audit && event.audit && batch.deferred.pendingLeft === 0 && errorsOf(batch.traffic) === 0 && event.errors === 0
  if (!ok) throw new Error(`a check failed: see the summary above and ${dir}`)
  await tearDown(0)
} catch (error) {
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`)
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

/**
 * The monthly batch, requested from the daemons, inside open-model API traffic; batch-worker #1
 * is killed (-9) once a quarter of the chunks are done and a fresh process joins 2 s later.
 */
async function batchChapter(stack: Stack, pool: Pool, admin: string): Promise<BatchChapter> {
  await giveOldCoupons(pool, flags.users)
  const mix = createLiveMix(flags.users, 'demo')
  step(`live API traffic: ${flags.liveRate} req/s (open model) of profile / coupon list / redeem / place order for users holding a coupon`)
  const trafficStarted = performance.now()
  const sinceTraffic = () => (performance.now() - trafficStarted) / 1000
  const traffic = runOpenModel({ origin: stack.url, rate: flags.liveRate, durationSec: 3_600, connections: 200, request: mix.openRequest, onResponse: mix.onOpenResponse, signal: stopTraffic.signal })
  await sleep(2_000)

  step(`requesting the ${flags.period} batch from the daemons (POST /ops/batch-worker/runs)`)
  const requested = sinceTraffic()
  const response = await request(`${stack.url}/ops/batch-worker/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ period: flags.period }),
  })
  if (response.statusCode !== 202) throw new Error(`the run request answered ${response.statusCode}: ${await response.body.text()}`)
  const runId = ((await response.body.json()) as { id: number }).id

  let killedAt = NaN
  let joinedAt = NaN
  /** The killed worker's instance id tail, as the gantt's lanes name workers. */
  let victim = ''
  let joining: Promise<unknown> = Promise.resolve()
  let reported = ''
  let status: RunStatus | null = null
  for (const deadline = Date.now() + 180_000; Date.now() < deadline; await sleep(20)) {
    status = await readRunStatus(pool, { id: runId })
    if (!status) continue
    const line = `${status.status.padEnd(9)} ${status.chunksDone}/${status.chunks ?? '?'} chunks done`
    if (line !== reported) step(`  ${(reported = line)}`)
    if (status.status === 'COMPLETED' || status.status === 'FAILED') break
    if (Number.isNaN(killedAt) && status.chunks && status.chunksDone >= Math.ceil(status.chunks / 4)) {
      victim = stack.replicas.find((r) => r.service === 'batch-worker' && r.index === 1)?.instanceId?.slice(-6) ?? '?'
      await stack.killReplica('batch-worker', 1)
      killedAt = sinceTraffic()
      step(`  kill -9 of batch-worker #1 (…${victim}): its chunks in hand come back when their leases (10 s) run out; the other worker goes on`)
    }
    if (!Number.isNaN(killedAt) && Number.isNaN(joinedAt) && sinceTraffic() - killedAt >= 2) {
      joinedAt = sinceTraffic()
      step('  a fresh batch-worker #1 starts and joins the run (as a scaled-up replica would)')
      joining = stack.restartReplica('batch-worker', 1).then((replica) => step(`  batch-worker #1 is back as …${replica.instanceId?.slice(-8)}`))
    }
  }
  await joining
  if (status?.status !== 'COMPLETED') throw new Error(`the run ended ${status?.status ?? 'unknown'}`)
  await sleep(1_000)
  stopTraffic.abort()
  const result = await traffic
  const run = (await readRunStatus(pool, { id: runId }))!
  step(`  COMPLETED: ${run.targets} targets in ${run.chunks} chunks, ${run.couponsIssued} coupons issued; ${run.totalSeconds?.toFixed(2)} s from request to COMPLETED (plan ${run.planSeconds?.toFixed(2)} s)`)
  if (Number.isNaN(killedAt)) step('  (the run finished before a quarter of its chunks could be seen done: nothing was killed)')

  step('waiting for every deferred redemption (202) to be applied')
  const deferred = await awaitDeferred(pool, mix.deferredIds)
  const window = await runWindowOnLocalClock(pool, runId, () => performance.now() - trafficStarted, 'batch run (requested → completed)')
  const inBatch = result.samples.filter((s) => s.status !== 0 && window && s.at >= window.from * 1000 && s.at <= window.to * 1000)
  const duringBatch = summarize(inBatch.map((s) => s.ms))
  step(
    `  API traffic: ${result.samples.length.toLocaleString('en')} requests, ${errorsOf(result)} errors; during the batch p50 ${duringBatch.p50.toFixed(1)} ms, p99 ${duringBatch.p99.toFixed(1)} ms; ${deferred.count} × 202, resolved in ≤ ${deferred.maxSeconds.toFixed(1)} s, ${deferred.pendingLeft} left`,
  )

  step('auditing the batch from scratch (grades recomputed, coupons, chunks exactly once, redemptions)')
  const audit = await auditBatch(pool, { period: flags.period, policy: defaultGradePolicy })
  console.log(formatAudit(audit))

  const markers: Marker[] = [
    ...(Number.isNaN(killedAt) ? [] : [{ at: killedAt, label: `…${victim} killed` }]),
    ...(Number.isNaN(joinedAt) ? [] : [{ at: joinedAt, label: 'a fresh worker joins' }]),
  ]
  const bands: Band[] = window ? [window] : []
  const bucketMs = bucketMsFor(result.samples)
  const timeline = await readBatchTimeline(pool, runId)
  const charts: Chart[] = [
    {
      kind: 'timeseries',
      title: 'API latency while the batch runs',
      caption: `p50/p90/p99 per ${bucketMs} ms of the requests scheduled then (open model, ${flags.liveRate} req/s, latency from the scheduled arrival).`,
      xLabel: 'seconds since the traffic started',
      yLabel: 'latency ms',
      yScale: 'log',
      series: latencyOverTime(result.samples.filter((s) => s.status !== 0), bucketMs),
      bands,
      markers,
    },
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
    batchGantt(timeline, 'Batch timeline per worker', markers.map((m) => ({ ...m, at: m.at - requested }))),
  ]
  return { run, audit: audit.ok, killedAt, joinedAt, traffic: result, duringBatch, deferred, charts }
}

/** A shortened first-come event: a flood through nginx, the draw in the batch worker, the audit. */
async function eventChapter(stack: Stack, pool: Pool, admin: string): Promise<EventChapter> {
  const now = Date.now()
  const closesAt = new Date(now + 120_000)
  const eventId = await createEventThrough(stack.url, admin, { title: 'demo: first 100 win', opensAt: new Date(now - 1_000), closesAt, winnerQuota: 100, announceAt: closesAt })
  const requests = flags.eventRequests
  step(`first-come event ${eventId}: quota 100; ${requests.toLocaleString('en')} applications from 256 clients through nginx to 2 event-apply replicas (10% repeated phones)`)
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
  step(`  ${Math.round(rate).toLocaleString('en')} req/s (closed loop), p99 ${p99.toFixed(1)} ms, ${errors} errors; ${[...flood.statuses].map(([status, n]) => `${n.toLocaleString('en')} × ${status || 'network error'}`).join(', ')}`)
  // Close the event now (instead of waiting out its window) and let in-flight group commits settle.
  await pool.query('UPDATE events SET closes_at = NOW(6), announce_at = NOW(6) WHERE id = ?', [eventId])
  step(`  closed; drawing in ${(drawSettleMs / 1000).toFixed(0)} s, once every application in flight has been written`)
  await sleep(drawSettleMs + 500)
  const drawn = await request(`${stack.url}/ops/batch-worker/events/${eventId}/draw`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } })
  const draw = (await drawn.body.json()) as { outcome?: string; winners?: number; code?: string }
  step(`  draw by a batch-worker daemon: ${draw.outcome ?? draw.code}, ${draw.winners ?? 0} winners; the first five (GET /events/${eventId}/winners):`)
  const listed = await request(`${stack.url}/events/${eventId}/winners`)
  const list = (await listed.body.json()) as { winners: { rank: number; name: string; phone: string }[] }
  console.table(list.winners.slice(0, 5))
  step('auditing the event (one entry per phone, every 201 stored, winners = the 100 earliest arrivals)')
  const audit = await auditEvent(pool, { eventId, acknowledged: flood.acknowledged, expectDrawn: true })
  console.log(formatAudit(audit))
  return { requests, rate, p99, errors, statuses: flood.statuses, winners: list.winners.length, audit: audit.ok }
}

function errorsOf(traffic: OpenModelResult): number {
  return traffic.samples.filter((s) => s.status === 0 || s.status >= 500).length
}

function summaryRows(batch: BatchChapter, event: EventChapter): { what: string; result: string }[] {
  const ms = (n: number) => `${n.toFixed(1)} ms`
  const statuses = (samples: { status: number }[]) => samples.filter((s) => s.status === 202).length
  return [
    { what: 'batch: request → COMPLETED', result: `${batch.run.totalSeconds?.toFixed(2)} s (${batch.run.targets} targets, ${batch.run.couponsIssued} coupons, ${batch.run.chunks} chunks)` },
    { what: 'batch: worker killed / joined', result: Number.isNaN(batch.killedAt) ? 'not killed (the run was faster than the poll)' : `killed at ${batch.killedAt.toFixed(1)} s, joined at ${batch.joinedAt.toFixed(1)} s (traffic clock)` },
    { what: 'batch audit', result: batch.audit ? 'ok' : 'FAILED' },
    { what: 'API traffic (open model)', result: `${batch.traffic.samples.length.toLocaleString('en')} requests at ${Math.round(batch.traffic.offeredRate)} req/s` },
    { what: 'API latency during the batch', result: `mean ${ms(batch.duringBatch.mean)}, p50 ${ms(batch.duringBatch.p50)}, p99 ${ms(batch.duringBatch.p99)}, max ${ms(batch.duringBatch.max)} (${batch.duringBatch.count.toLocaleString('en')} requests)` },
    { what: 'API errors (5xx, timeouts, resets)', result: String(errorsOf(batch.traffic)) },
    { what: '202 deferred redemptions', result: `${statuses(batch.traffic.samples)}, all applied within ${Number.isNaN(batch.deferred.maxSeconds) ? '-' : `${batch.deferred.maxSeconds.toFixed(1)} s`}; ${batch.deferred.pendingLeft} still pending` },
    { what: 'event flood', result: `${event.requests.toLocaleString('en')} requests at ${Math.round(event.rate).toLocaleString('en')} req/s (closed loop, 256 clients), p99 ${ms(event.p99)}, ${event.errors} errors` },
    { what: 'event winners', result: String(event.winners) },
    { what: 'event audit', result: event.audit ? 'ok' : 'FAILED' },
  ]
}
