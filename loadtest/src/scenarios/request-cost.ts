import { fileURLToPath } from 'node:url'
import type { Pool, ResultSetHeader } from '@commerce/db'
import type { ServiceName } from '@commerce/kit'
import { localDbPid } from '@commerce/local/mariadb'
import { startStack, type Stack } from '@commerce/local/stack'
import { treeServerScripts, type AgainstTree } from '../against.ts'
import type { BarChart } from '../charts.ts'
import { createLiveMix, giveOldCoupons, liveMixKinds } from '../live-mix.ts'
import { runOpenModel, type OpenModelRequest } from '../open-model.ts'
import { childPids, groupUsage, usageBetween, type ProcessUsage } from '../process-cost.ts'
import { machineInfo, markdownTable, median, writeReport } from '../report.ts'
import { statusCounts, summarize, type LatencySummary } from '../stats.ts'
import { seededDatabase } from './batch.ts'

// `npm run bench -- request-cost`: what one request of each hot route costs, per process, at
// several open-model rates, through nginx to 2 replicas — for the services and, in the same run,
// for a bare reference app doing the same job with the same SQL (baselines/reference-app.ts),
// the floor every figure is also given as a ratio to. CPU is utime + stime from /proc/<pid>/stat
// (10 ms ticks: rates × seconds keep the error per request small), syscalls are /proc/<pid>/io's
// read- and write-class calls, latency is from each request's scheduled time.

export interface RequestCostOptions {
  baseUrl: string
  users: number
  orders: number
  rates: number[]
  /** Seconds per route and rate. */
  duration: number
  /** The routes measured (all of them by default). */
  routes?: readonly Route[]
  /**
   * Then, per route and design, find the saturation point: the highest rate whose step holds
   * (`holds`), up by a quarter per step from the last of `rates`, then the gap to the first step
   * that did not hold halved twice.
   */
  saturate?: boolean
  against?: AgainstTree
  log: (line: string) => void
}

/** The hot routes, and the live mix: profile, coupon list, redeem and place order in turn, one user per four. */
export const requestCostRoutes = ['profile', 'coupon list', 'redeem', 'place order', 'event write', 'event closed', 'live mix'] as const
export type Route = (typeof requestCostRoutes)[number]

/** A saturation step holds when nothing failed and its latency is within these, ms (the live mix: its issue's bound on the whole mix). */
const saturationBound = (route: Route) => (route === 'live mix' ? { mean: 15, p99: 100 } : { mean: Number.POSITIVE_INFINITY, p99: 50 })
/** Beyond this the load generator, on the same cores, is what saturates. */
const maxSaturationRate = 20_000
const holds = (m: Measurement) => {
  const bound = saturationBound(m.route)
  return m.errors === 0 && m.latency.p99 <= bound.p99 && m.latency.mean <= bound.mean
}

/** The highest rate of a route and design that held, below its lowest rate that did not (undefined when that is its first). */
function saturationPoint(measured: Measurement[], design: string, route: Route): number | undefined {
  let held: number | undefined
  for (const m of measured.filter((r) => r.design === design && r.route === route).sort((a, b) => a.rate - b.rate)) {
    if (!holds(m)) break
    held = m.rate
  }
  return held
}

const servicesOf: Record<Route, ServiceName[]> = {
  profile: ['user-api'],
  'coupon list': ['coupon-api'],
  redeem: ['coupon-api'],
  'place order': ['user-api'],
  'event write': ['event-apply'],
  'event closed': ['event-apply'],
  'live mix': ['user-api', 'coupon-api'],
}
const referenceScript = fileURLToPath(new URL('../baselines/reference-app.ts', import.meta.url))
const referenceScripts = { 'user-api': referenceScript, 'coupon-api': referenceScript, 'event-apply': referenceScript }

/** The processes whose cost is reported: the route's replicas, nginx, MariaDB, and this load generator. */
const parts = ['replicas', 'nginx', 'mariadb', 'load generator'] as const
type Part = (typeof parts)[number]

interface Measurement {
  design: string
  route: Route
  rate: number
  requests: number
  errors: number
  statuses: Record<string, number>
  latency: LatencySummary
  lateSends: number
  /** CPU µs and syscalls per request, by process group. */
  perRequest: Record<Part, ProcessUsage>
}

/** The events the event routes apply to: one that never fills, and one filled by its first application. */
async function createEvents(pool: Pool): Promise<EventTargets> {
  const insert = async (title: string, quota: number) => {
    const [result] = await pool.query<ResultSetHeader>(
      `INSERT INTO events (title, opens_at, closes_at, winner_quota, announce_at)
       VALUES (?, NOW(6) - INTERVAL 1 MINUTE, NOW(6) + INTERVAL 1 DAY, ?, NOW(6) + INTERVAL 1 DAY)`,
      [title, quota],
    )
    return result.insertId
  }
  let phones = 0
  return {
    open: await insert('request-cost write path', 1_000_000_000),
    full: await insert('request-cost closed path', 1),
    nextPhone: () => `010${String(10_000_000 + ++phones).slice(-8)}`,
  }
}

/** A design's events, and the phones its applications use: one counter, so no two applications share a phone. */
interface EventTargets {
  open: number
  full: number
  nextPhone: () => string
}

function requestsFor(route: Route, users: number, label: string, events: EventTargets): (index: number) => OpenModelRequest {
  // The label prefixes Idempotency-Keys: letters, digits and dashes only ("services @ abc1234" is a design name).
  const mix = createLiveMix(users, label.replace(/[^A-Za-z0-9]+/g, '-'))
  if (route === 'live mix') return mix.openRequest
  const kind = (liveMixKinds as readonly string[]).indexOf(route)
  if (kind >= 0) return () => mix.request(kind, mix.randomUser())
  // The write path stores every application; the closed event answers from memory.
  const eventId = route === 'event write' ? events.open : events.full
  return () => ({
    method: 'POST',
    path: `/events/${eventId}/applications`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench applicant', phone: events.nextPhone() }),
  })
}

function pidsOf(stack: Stack, route: Route): Record<Exclude<Part, 'load generator'>, number[]> {
  const nginxMaster = stack.nginxPid
  return {
    replicas: stack.replicas.filter((replica) => servicesOf[route].includes(replica.service)).map((replica) => replica.pid),
    nginx: nginxMaster === undefined ? [] : [nginxMaster, ...childPids(nginxMaster)],
    mariadb: [localDbPid()].filter((pid): pid is number => pid !== undefined),
  }
}

/** nginx limits the event's applications per client address (20/s): they come from many clients, ≤ 10/s each up to 2,500 req/s. */
const clientsFor = (route: Route) => (route === 'event write' || route === 'event closed' ? 250 : undefined)

async function measure(
  stack: Stack,
  design: string,
  route: Route,
  rate: number,
  seconds: number,
  request: (index: number) => OpenModelRequest,
): Promise<Measurement> {
  const pids = pidsOf(stack, route)
  const usage = () => ({
    replicas: groupUsage(pids.replicas),
    nginx: groupUsage(pids.nginx),
    mariadb: groupUsage(pids.mariadb),
    'load generator': groupUsage([process.pid]),
  })
  const before = usage()
  const result = await runOpenModel({ origin: stack.url, rate, durationSec: seconds, connections: 256, clients: clientsFor(route), request })
  const after = usage()
  const requests = result.samples.length
  const per = (part: Part): ProcessUsage => {
    const used = usageBetween(before[part], after[part])
    return { cpuMicros: used.cpuMicros / requests, syscalls: used.syscalls / requests, runQueueMicros: used.runQueueMicros / requests }
  }
  return {
    design,
    route,
    rate,
    requests,
    errors: result.samples.filter((sample) => sample.status === 0 || sample.status >= 500).length,
    statuses: statusCounts(result.samples),
    latency: summarize(result.samples.map((sample) => sample.ms)),
    lateSends: result.lateSends,
    perRequest: Object.fromEntries(parts.map((part) => [part, per(part)])) as Record<Part, ProcessUsage>,
  }
}

export async function benchRequestCost(options: RequestCostOptions): Promise<string> {
  const { log, rates, duration } = options
  const db = await seededDatabase(options.baseUrl, 'bench_request_cost', options.users, options.orders)
  const machine = await machineInfo(db.pool)
  const designs: { name: string; serverScripts?: Partial<Record<ServiceName, string>> }[] = [
    { name: 'services' },
    { name: 'reference', serverScripts: referenceScripts },
    ...(options.against ? [{ name: `services @ ${options.against.label}`, serverScripts: treeServerScripts(options.against) }] : []),
  ]
  const routes = options.routes ?? requestCostRoutes
  const measured: Measurement[] = []
  /** Per design: each replica's spawn → first 200 on /ready, ms (all 6 start at once on this machine's cores). */
  const startups: { design: string; readyMs: number[] }[] = []
  try {
    for (const design of designs) {
      await resetCoupons(db.pool, options.users)
      const events = await createEvents(db.pool)
      log(`${design.name}: starting the stack (2 replicas of each API, no batch worker)`)
      const stack = await startStack({ replicas: 2, batchWorkers: 0, databaseUrl: db.url, serverScripts: design.serverScripts })
      startups.push({ design: design.name, readyMs: stack.replicas.map((replica) => replica.readyAfterMs ?? Number.NaN) })
      try {
        // Warm-up (connections, the event rows in memory, the closed event's quota filled, and the
        // JIT: with 400 requests per route V8 was still compiling the hot code on its background
        // threads during the measurement, ~120 µs per request of the kit's closed path), not measured.
        for (const route of routes) {
          await runOpenModel({
            origin: stack.url,
            rate: 500,
            durationSec: 6,
            connections: 256,
            clients: clientsFor(route),
            request: requestsFor(route, options.users, `warm-${design.name}-${route}`, events),
          })
        }
        for (const route of routes) {
          const run = async (rate: number) => {
            const m = await measure(stack, design.name, route, rate, duration, requestsFor(route, options.users, `${design.name}-${route}-${rate}`, events))
            measured.push(m)
            log(
              `  ${design.name} ${route} @ ${rate} req/s: replicas ${m.perRequest.replicas.cpuMicros.toFixed(0)} µs/req, p50 ${m.latency.p50.toFixed(1)} ms, p99 ${m.latency.p99.toFixed(1)} ms, ${m.errors} errors`,
            )
            return m
          }
          const held: number[] = []
          const failed: number[] = []
          const note = async (rate: number) => {
            const m = await run(rate)
            ;(holds(m) ? held : failed).push(rate)
          }
          for (const rate of rates) await note(rate)
          if (options.saturate) {
            // Up by a quarter while every step holds, then halve the gap (geometrically) between
            // the highest rate that held and the lowest that did not, twice.
            while (failed.length === 0 && Math.max(...held) < maxSaturationRate) await note(Math.round(Math.max(...held) * 1.25))
            for (let i = 0; i < 2 && held.length > 0 && failed.length > 0; i++) {
              const between = Math.round(Math.sqrt(Math.max(...held) * Math.min(...failed)))
              if (held.includes(between) || failed.includes(between)) break
              await note(between)
            }
          }
        }
      } finally {
        await stack.stop({ stopDatabase: false })
      }
    }
  } finally {
    await db.pool.end()
  }
  return report(measured, startups, options, machine)
}

/** Fresh coupons for the redeem route, so each design redeems the same ones from the same state. */
async function resetCoupons(pool: Pool, users: number): Promise<void> {
  await pool.query('TRUNCATE TABLE coupons')
  await pool.query('TRUNCATE TABLE coupon_redemptions')
  await giveOldCoupons(pool, users)
}

function report(
  measured: Measurement[],
  startups: { design: string; readyMs: number[] }[],
  options: RequestCostOptions,
  machine: Awaited<ReturnType<typeof machineInfo>>,
): string {
  const floor = (m: Measurement) => measured.find((r) => r.design === 'reference' && r.route === m.route && r.rate === m.rate)
  const ratio = (value: number, base: number | undefined) => (base && base > 0 ? `${(value / base).toFixed(2)}×` : '')
  const rows = measured.map((m) => {
    const ref = floor(m)
    return {
      route: m.route,
      'req/s': m.rate,
      design: m.design,
      requests: m.requests,
      errors: m.errors,
      'replica CPU µs/req': Math.round(m.perRequest.replicas.cpuMicros),
      '÷ reference': m.design === 'reference' ? '' : ratio(m.perRequest.replicas.cpuMicros, ref?.perRequest.replicas.cpuMicros),
      'replica syscalls/req': m.perRequest.replicas.syscalls.toFixed(1),
      'nginx µs/req': Math.round(m.perRequest.nginx.cpuMicros),
      'MariaDB µs/req': Math.round(m.perRequest.mariadb.cpuMicros),
      'load gen µs/req': Math.round(m.perRequest['load generator'].cpuMicros),
      // Waiting for a CPU, summed over every part: the share of latency that is the cores being shared.
      'run-queue wait µs/req': Math.round(parts.reduce((sum, part) => sum + m.perRequest[part].runQueueMicros, 0)),
      'replica run-queue µs/req': Math.round(m.perRequest.replicas.runQueueMicros),
      mean: m.latency.mean.toFixed(1),
      p50: m.latency.p50.toFixed(1),
      p99: m.latency.p99.toFixed(1),
      'p99.9': m.latency.p999.toFixed(1),
      'p99 ÷ reference': m.design === 'reference' ? '' : ratio(m.latency.p99, ref?.latency.p99),
      'late sends': m.lateSends,
    }
  })
  const designNames = [...new Set(measured.map((m) => m.design))]
  const routes = [...new Set(measured.map((m) => m.route))]
  const saturationRows = routes.flatMap((route) =>
    designNames.map((design) => {
      const point = saturationPoint(measured, design, route)
      const reference = saturationPoint(measured, 'reference', route)
      return {
        route,
        design,
        'saturation req/s': point ?? `< ${Math.min(...measured.filter((m) => m.design === design && m.route === route).map((m) => m.rate))}`,
        '÷ reference': design === 'reference' || point === undefined ? '' : ratio(point, reference),
      }
    }),
  )
  const markdown = [
    `# request-cost bench — ${machine.date}`,
    '',
    `${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}, ${machine.database}. 2 replicas per API behind nginx; open model, ${options.duration} s per route and rate, latency (ms) from each request's scheduled time; load generator on the same machine. CPU per request = utime + stime of the route's replicas (nginx: master + workers; MariaDB: the server) ÷ requests answered. The reference is a bare Fastify app with the services' own SQL and token check.`,
    '',
    markdownTable(rows),
    '',
    ...(options.saturate
      ? [
          `Saturation point: the highest rate with no error and p99 ≤ ${saturationBound('profile').p99} ms (the live mix: mean ≤ ${saturationBound('live mix').mean} ms and p99 ≤ ${saturationBound('live mix').p99} ms), found in steps of +25% from the last rate, then by halving the gap twice.`,
          '',
          markdownTable(saturationRows),
          '',
        ]
      : []),
    `Startup, spawn → ready (6 replicas at once): ${startups
      .map(({ design, readyMs }) => `${design} median ${(median(readyMs) / 1000).toFixed(1)} s, slowest ${(Math.max(...readyMs) / 1000).toFixed(1)} s`)
      .join('; ')}.`,
  ].join('\n')
  const charts: BarChart[] = options.rates.map((rate) => ({
    kind: 'bars',
    title: `Replica CPU per request at ${rate} req/s`,
    yLabel: 'µs per request (2 replicas)',
    categories: routes,
    series: designNames.map((design) => ({
      label: design,
      values: routes.map((route) => measured.find((m) => m.design === design && m.route === route && m.rate === rate)?.perRequest.replicas.cpuMicros ?? null),
    })),
    unit: ' µs',
    digits: 0,
  }))
  return writeReport(
    'request-cost',
    {
      machine,
      options: { ...options, log: undefined, against: options.against?.label },
      startups,
      measured,
      saturation: options.saturate ? saturationRows : undefined,
    },
    markdown,
    charts,
  )
}
