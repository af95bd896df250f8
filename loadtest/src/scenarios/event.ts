import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import { auditEvent, formatAudit } from '@commerce/audit'
import { createPool, dropDatabase, migrateDatabase, withDatabase, type Pool } from '@commerce/db'
import { drawSettleMs } from '@commerce/domain'
import { signToken, type ServiceName } from '@commerce/kit'
import { localDir } from '@commerce/local/paths'
import { localAuthSecret } from '@commerce/local/secret'
import { startStack, type Stack } from '@commerce/local/stack'
import { createCrowd } from '@commerce/local/clients'
import { applicantAuthorization } from '@commerce/local/flood'
import { treeServerScripts, type AgainstTree } from '../against.ts'
import { auditLocking, createLockingTable, lockingServerScript } from '../baselines/locking-apply.ts'
import { runOpenModel } from '../open-model.ts'
import { machineInfo, markdownTable, writeReport } from '../report.ts'
import type { Chart, LineSeries } from '../charts.ts'
import { bucketMsFor, latencyOverTime, statusCounts, summarize, throughputOverTime, type LatencySummary } from '../stats.ts'

// `npm run bench -- event`: the first-come-first-served event through nginx to 2 replicas of
// event-apply, load generated on the same machine, open model (constant arrival rate, latency
// from each request's scheduled time). The group-commit design and the seed's locking design
// run the same floods in the same run: sustained rate, saturation steps, and the 13:00 burst.
export interface EventBenchOptions {
  baseUrl: string
  /** The sustained flood: req/s and seconds (the seed's requirement: 1,666 for 600). */
  rate: number
  duration: number
  /** Requests arriving within one second at the opening. */
  burst: number
  /** Saturation: the offered rates to try, and seconds per step. */
  steps: number[]
  stepDuration: number
  /** Which of group-commit and locking to run (default both). */
  strategies?: string[]
  /** An earlier commit whose services (group commit) run the same floods in the same run. */
  against?: AgainstTree
  /** The group commit again on a 3-node Galera cluster, multi-writer (the stack's --galera), in the same run. */
  galera?: boolean
  log: (line: string) => void
}

/** A design under test: a name for the report, the entries its stack runs instead of the services' own, and its database. */
interface Design {
  strategy: string
  serverScripts: Partial<Record<ServiceName, string>>
  galera?: boolean
}

interface Flood {
  strategy: string
  label: string
  offeredRate: number
  seconds: number
  requests: number
  /** HTTP status → count; 0 = network error or timeout. */
  statuses: Record<string, number>
  /** 5xx, network errors and timeouts. */
  errors: number
  latency: LatencySummary
  /** Requests the generator sent > 10 ms late (the generator itself saturating). */
  lateSends: number
  winners?: number
  audit?: { ok: boolean; detail: string }
  /** The bot's answers by status (the sustained flood only); the people's are `statuses`. */
  bot?: Record<string, number>
  /** Per-bucket series of the run (x = seconds since its start), for the report's charts. */
  timeline: { latency: LineSeries[]; throughput: LineSeries[] }
}

/** Distinct people per index, except that every 20th request repeats one sent 10 earlier (5% duplicates). */
const personFor = (offset: number, i: number) => offset + (i % 20 === 19 ? i - 10 : i)
const phoneOf = (person: number) => `010${String(10_000_000 + person).slice(-8)}`
/** The bot: one address, this many applications at once, spread over a few accounts it holds, in the middle of the sustained flood. */
const bot = { requests: 2_000, accounts: 20, firstClient: 60_000, firstPerson: 900_000_000 }

/** The stack on a fresh Galera cluster of the benchmark's own (its folder under .local), multi-writer. */
function startGaleraStack(serverScripts: Design['serverScripts']): Promise<Stack> {
  const dir = join(localDir, 'bench-galera')
  rmSync(dir, { recursive: true, force: true })
  return startStack({ replicas: 2, batchWorkers: 1, galera: true, dir, env: { LOG_LEVEL: 'warn' }, serverScripts })
}

/** A tool pool whose reads wait until node 1 has applied what the cluster committed before them. */
function causalPool(url: string): Pool {
  const pool = createPool({ url, role: 'tool', connectionLimit: 2 })
  pool.on('connection', (conn) => {
    conn.query('SET SESSION wsrep_sync_wait = 1')
  })
  return pool
}

export async function benchEvent(options: EventBenchOptions): Promise<string> {
  const { log } = options
  const url = withDatabase(options.baseUrl, 'bench_event')
  await dropDatabase(url).catch(() => undefined)
  await migrateDatabase(url)
  const pool = createPool({ url, role: 'tool', connectionLimit: 2 })
  await createLockingTable(pool)
  const machine = await machineInfo(pool)
  const admin = `Bearer ${signToken(localAuthSecret(), { userId: 1, role: 'admin' })}`
  const floods: Flood[] = []
  let ceiling = 0
  let phoneOffset = 0

  const wanted = new Set(options.strategies ?? ['group-commit', 'locking'])
  const designs: Design[] = [
    ...(wanted.has('group-commit') ? [{ strategy: 'group-commit', serverScripts: {} }] : []),
    ...(options.against && wanted.has('group-commit')
      ? [{ strategy: `group-commit @ ${options.against.label}`, serverScripts: treeServerScripts(options.against) }]
      : []),
    ...(options.galera && wanted.has('group-commit') ? [{ strategy: 'group-commit @ galera', serverScripts: {}, galera: true }] : []),
    ...(wanted.has('locking') ? [{ strategy: 'locking', serverScripts: { 'event-apply': lockingServerScript } }] : []),
  ]
  const strategies = designs.map((d) => d.strategy)
  try {
    for (const { strategy, serverScripts, galera } of designs) {
      log(`${strategy}: starting the stack (2 replicas of each API, 1 batch worker${galera ? ', a fresh 3-node Galera cluster, replica i on node i + 1' : ''})`)
      const stack = galera
        ? await startGaleraStack(serverScripts)
        : await startStack({ replicas: 2, batchWorkers: 1, databaseUrl: url, env: { LOG_LEVEL: 'warn' }, serverScripts })
      // Floods on the cluster are audited through node 1, after it has applied every node's writes.
      const designPool = galera ? causalPool(stack.databaseUrl) : pool
      try {
        if (strategy === strategies[0]) {
          ceiling = await trivialRouteCeiling(stack.url)
          log(`  ceiling of a trivial route (GET /ops/event-apply/health, autocannon): ${Math.round(ceiling).toLocaleString('en')} req/s`)
        }
        const run = (label: string, rate: number, seconds: number, quota: number, connections = 256) => {
          phoneOffset += Math.ceil(rate * seconds) + 1
          return flood({ stack, pool: designPool, admin, strategy, label, rate, seconds, quota, connections, phoneOffset, log })
        }
        floods.push(await run('sustained', options.rate, options.duration, 100))
        floods.push(await run('burst at opening', options.burst, 1, 100, 1_024))
        for (const rate of options.steps) {
          const step = await run(`saturation step`, rate, options.stepDuration, 1_000_000_000)
          floods.push(step)
          if (step.errors > 0 || step.latency.p99 > 50) break
        }
      } finally {
        if (designPool !== pool) await designPool.end()
        // The cluster goes with its stack: a server left running skews the next design's measurement.
        await stack.stop({ stopDatabase: galera === true })
      }
    }
  } finally {
    await pool.end()
  }

  const sustainable = (strategy: string) =>
    Math.max(
      0,
      ...floods.filter((f) => f.strategy === strategy && f.label === 'saturation step' && f.errors === 0 && f.latency.p99 <= 50).map((f) => f.offeredRate),
    )
  const summary = {
    ceiling,
    saturation: Object.fromEntries(strategies.map((s) => [s, sustainable(s)])),
    ratio: sustainable('locking') > 0 ? sustainable('group-commit') / sustainable('locking') : null,
  }
  const before = strategies.find((s) => s.startsWith('group-commit @'))
  /** p99 of this checkout's group commit ÷ the earlier tree's, per flood they both ran. */
  const againstRatios = before
    ? floods
        .filter((f) => f.strategy === 'group-commit')
        .flatMap((f) => {
          const other = floods.find((o) => o.strategy === before && o.label === f.label && Math.round(o.offeredRate) === Math.round(f.offeredRate))
          return other
            ? [
                `${f.label} ${Math.round(f.offeredRate).toLocaleString('en')} req/s: p50 ${(f.latency.p50 / other.latency.p50).toFixed(2)}×, p99 ${(f.latency.p99 / other.latency.p99).toFixed(2)}×`,
              ]
            : []
        })
    : []
  const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '–')
  const markdown = [
    `# event bench — ${machine.date}`,
    '',
    `${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}, ${machine.database}. Load generator on the same machine; open model, latency from each request's scheduled time (ms).`,
    '',
    markdownTable(
      floods.map((f) => ({
        strategy: f.strategy,
        flood: f.label,
        'offered req/s': Math.round(f.offeredRate),
        seconds: f.seconds,
        requests: f.requests,
        '× 201': f.statuses['201'] ?? 0,
        '× 409': f.statuses['409'] ?? 0,
        '× 410': f.statuses['410'] ?? 0,
        errors: f.errors,
        p50: fmt(f.latency.p50),
        p90: fmt(f.latency.p90),
        p99: fmt(f.latency.p99),
        max: fmt(f.latency.max),
        'late sends': f.lateSends,
        winners: f.winners ?? '',
        audit: f.audit ? (f.audit.ok ? 'ok' : 'FAILED') : '',
      })),
    ),
    '',
    ...(before ? [`This checkout's group commit ÷ ${before} (same run): ${againstRatios.join('; ')}.`, ''] : []),
    ...floods.flatMap((f) =>
      f.bot
        ? [
            `${f.strategy} ${f.label}: the bot (${bot.requests.toLocaleString('en')} applications at once from one address, over ${bot.accounts} accounts) got ${formatStatuses(f.bot)}; every other client: ${formatStatuses(f.statuses)}.`,
            '',
          ]
        : [],
    ),
    `Trivial-route ceiling through the same nginx: ${Math.round(ceiling).toLocaleString('en')} req/s. Highest step with 0 errors and p99 ≤ 50 ms: ${strategies
      .map((s) => `${s} ${sustainable(s).toLocaleString('en')} req/s (${((100 * sustainable(s)) / ceiling).toFixed(0)}% of the ceiling)`)
      .join(', ')}${summary.ratio ? ` — group commit ÷ locking ${summary.ratio.toFixed(1)}×` : ''}.`,
  ].join('\n')
  const failedAudits = floods.filter((f) => f.audit && !f.audit.ok)
  const dir = writeReport(
    'event',
    { machine, options: { ...options, log: undefined, against: options.against?.label }, summary, floods },
    markdown,
    eventCharts(floods),
  )
  log(markdown)
  if (failedAudits.length > 0)
    throw new Error(
      `audit failed for ${failedAudits.map((f) => `${f.strategy} ${f.label}`).join(', ')}:\n${failedAudits.map((f) => f.audit?.detail).join('\n')}`,
    )
  return dir
}

/** Latency and throughput over time of each design's non-step floods; p99 per saturation step, side by side. */
function eventCharts(floods: Flood[]): Chart[] {
  const timeCharts = floods
    .filter((f) => f.label !== 'saturation step')
    .flatMap((f): Chart[] => [
      {
        kind: 'timeseries',
        title: `${f.strategy}: ${f.label} at ${Math.round(f.offeredRate).toLocaleString('en')} req/s — latency`,
        xLabel: 's since start',
        yLabel: 'ms (from scheduled time)',
        yScale: 'log',
        series: f.timeline.latency,
      },
      {
        kind: 'timeseries',
        title: `${f.strategy}: ${f.label} — answers by status, per second of scheduled arrival`,
        xLabel: 's since start',
        yLabel: 'req/s',
        series: f.timeline.throughput,
      },
    ])
  const rates = [...new Set(floods.filter((f) => f.label === 'saturation step').map((f) => Math.round(f.offeredRate)))].sort((a, b) => a - b)
  const p99At = (strategy: string, rate: number) =>
    floods.find((f) => f.strategy === strategy && f.label === 'saturation step' && Math.round(f.offeredRate) === rate)?.latency.p99 ?? null
  const steps: Chart = {
    kind: 'bars',
    title: 'Saturation: p99 per offered rate (target ≤ 50 ms; a design stops after its first failing step)',
    yLabel: 'p99 ms',
    categories: rates.map((r) => `${r.toLocaleString('en')}\nreq/s`),
    series: [...new Set(floods.map((f) => f.strategy))].map((strategy) => ({ label: strategy, values: rates.map((rate) => p99At(strategy, rate)) })),
    unit: ' ms',
    digits: 0,
  }
  return [...timeCharts, steps]
}

const formatStatuses = (statuses: Record<string, number>) =>
  Object.entries(statuses)
    .map(([status, n]) => `${n} × ${status === '0' ? 'network error' : status}`)
    .join(', ')

/** The bot's burst: `bot.requests` applications at once from one address of its own, each a new phone, over a few accounts. */
async function botBurst(origin: string, eventId: number, phoneOffset: number, acknowledged: string[]): Promise<Record<string, number>> {
  const crowd = createCrowd(origin, { clients: 1, connectionsEach: 64, firstClient: bot.firstClient })
  const secret = localAuthSecret()
  const statuses: Record<string, number> = {}
  try {
    await Promise.all(
      Array.from({ length: bot.requests }, (_, i) =>
        crowd
          .client(0)
          .request({
            method: 'POST',
            path: `/events/${eventId}/applications`,
            headers: {
              'content-type': 'application/json',
              authorization: `Bearer ${signToken(secret, { userId: 900_000 + (i % bot.accounts), role: 'user' })}`,
            },
            body: JSON.stringify({ name: `bot ${i}`, phone: phoneOf(phoneOffset + 5_000_000 + i) }),
          })
          .then(async (response) => {
            const body = await response.body.text()
            if (response.statusCode === 201) acknowledged.push((JSON.parse(body) as { applicationId: string }).applicationId)
            return response.statusCode
          })
          .catch(() => 0)
          .then((status) => {
            statuses[status] = (statuses[status] ?? 0) + 1
          }),
      ),
    )
  } finally {
    await crowd.close()
  }
  return statuses
}

/** req/s of GET /health through nginx with autocannon (closed loop, as a ceiling should be). */
async function trivialRouteCeiling(origin: string): Promise<number> {
  const result = await autocannon({ url: `${origin}/ops/event-apply/health`, connections: 100, duration: 10 })
  return result.requests.average
}

async function flood(run: {
  stack: Stack
  pool: Pool
  admin: string
  strategy: string
  label: string
  rate: number
  seconds: number
  quota: number
  connections: number
  phoneOffset: number
  log: (line: string) => void
}): Promise<Flood> {
  const { stack, admin, strategy, label, rate, seconds, quota } = run
  const now = Date.now()
  // Closes right after the flood; announced once the draw may run (the settle time has passed).
  const closesAt = new Date(now + (seconds + 2) * 1_000)
  const created = await fetch(`${stack.url}/events`, {
    method: 'POST',
    headers: { authorization: admin, 'content-type': 'application/json' },
    body: JSON.stringify({
      title: `${strategy} ${label}`,
      opensAt: new Date(now - 1_000).toISOString(),
      closesAt: closesAt.toISOString(),
      winnerQuota: quota,
      announceAt: new Date(closesAt.getTime() + drawSettleMs + 500).toISOString(),
    }),
  })
  if (created.status !== 201) throw new Error(`POST /events answered ${created.status}: ${await created.text()}`)
  const eventId = Number(((await created.json()) as { id: number }).id)

  run.log(`  ${strategy} ${label}: ${rate.toLocaleString('en')} req/s for ${seconds} s (quota ${quota.toLocaleString('en')})`)
  const acknowledged: string[] = []
  const secret = localAuthSecret()
  // The event is for signed-in customers (POST /events' default): each person applies with their own
  // account's token, from their own address (nginx limits each address: ≤ 10 req/s each here).
  const flooding = runOpenModel({
    origin: stack.url,
    rate,
    durationSec: seconds,
    connections: run.connections,
    clients: Math.max(250, Math.ceil(rate / 10)),
    timeoutMs: 10_000,
    request: (i) => {
      const person = personFor(run.phoneOffset, i)
      return {
        method: 'POST',
        path: `/events/${eventId}/applications`,
        headers: { 'content-type': 'application/json', authorization: applicantAuthorization(person, secret) },
        body: JSON.stringify({ name: `applicant ${i}`, phone: phoneOf(person) }),
      }
    },
    onResponse: (_i, status, body) => {
      if (status === 201) acknowledged.push((JSON.parse(body) as { applicationId: string }).applicationId)
    },
  })
  const botStatuses =
    label === 'sustained' ? await sleep((seconds * 1000) / 2).then(() => botBurst(stack.url, eventId, run.phoneOffset, acknowledged)) : undefined
  const result = await flooding
  const statuses = statusCounts(result.samples)
  const outcome: Flood = {
    strategy,
    label,
    offeredRate: result.offeredRate,
    seconds,
    requests: result.samples.length,
    statuses,
    errors: result.samples.filter((s) => s.status === 0 || s.status >= 500).length,
    latency: summarize(result.samples.map((s) => s.ms)),
    lateSends: result.lateSends,
    ...(botStatuses ? { bot: botStatuses } : {}),
    timeline: {
      latency: latencyOverTime(result.samples, bucketMsFor(result.samples)),
      throughput: throughputOverTime(result.samples, bucketMsFor(result.samples)),
    },
  }
  run.log(
    `    ${Object.entries(statuses)
      .map(([s, n]) => `${n} × ${s === '0' ? 'network error' : s}`)
      .join(', ')}; p50 ${outcome.latency.p50.toFixed(1)} ms, p99 ${outcome.latency.p99.toFixed(1)} ms`,
  )
  if (botStatuses) run.log(`    the bot (${bot.requests} at once from one address, ${bot.accounts} accounts): ${formatStatuses(botStatuses)}`)

  if (strategy === 'locking') {
    const audit = await auditLocking(run.pool, { eventId, quota, acknowledged: acknowledged.length })
    return { ...outcome, winners: audit.rows, audit }
  }
  if (quota > 1_000_000) {
    const audit = await auditEvent(run.pool, { eventId, acknowledged })
    return { ...outcome, audit: { ok: audit.ok, detail: formatAudit(audit) } }
  }
  // The draw, through nginx to the batch worker, once the event has settled.
  const wait = closesAt.getTime() + drawSettleMs + 200 - Date.now()
  if (wait > 0) await sleep(wait)
  const drawn = await fetch(`${stack.url}/ops/batch-worker/events/${eventId}/draw`, { method: 'POST', headers: { authorization: admin } })
  if (drawn.status !== 200) throw new Error(`the draw answered ${drawn.status}: ${await drawn.text()}`)
  const { winners } = (await drawn.json()) as { winners: number }
  const audit = await auditEvent(run.pool, { eventId, acknowledged, expectDrawn: true })
  run.log(`    drawn: ${winners} winners; audit ${audit.ok ? 'ok' : 'FAILED'}`)
  return { ...outcome, winners, audit: { ok: audit.ok, detail: formatAudit(audit) } }
}
