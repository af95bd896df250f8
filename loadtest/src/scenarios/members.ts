import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { auditBatch } from '@commerce/audit'
import type { Pool, RowDataPacket } from '@commerce/db'
import { defaultGradePolicy } from '@commerce/domain'
import { signToken } from '@commerce/kit'
import { awaitRunEnd, requestBatchRun, type RunProgress } from '@commerce/local/batch'
import { repoRoot } from '@commerce/local/paths'
import { localAuthSecret } from '@commerce/local/secret'
import { startStack } from '@commerce/local/stack'
import type { Chart } from '../charts.ts'
import { livePeriod } from '../live-mix.ts'
import type { MembersProbeConfig, MembersProbeReport, PruneMode } from '../probes/members.ts'
import { machineInfo, markdownTable, writeReport } from '../report.ts'
import { resetBatchState, seededDatabase } from './batch.ts'
import { restartStackEnv } from './restart.ts'

// `npm run bench -- members`: hundreds of simulated members (the real cluster package, from a
// handful of processes) beside a real stack, in a quiet window and then while a monthly run goes:
// what their heartbeats, load reports and prunes cost the database, whether their views stay put,
// and what the batch does. The same counts with the baseline that pruned on every beat.

export interface MembersBenchOptions {
  baseUrl: string
  users: number
  orders: number
  /** Simulated member counts; each is run with both prune modes. */
  members: number[]
  processes: number
  /** Seconds of the quiet window. */
  duration: number
  log: (line: string) => void
}

/** The services' defaults (HEARTBEAT_MS, LOAD_REPORT_MS), as every real replica runs them. */
const heartbeatMs = 5_000
const loadEveryMs = 250
/** Simulated services of their own: the real replicas' ranks (the sweeper's, the batch's shares) must not count them. */
const simulatedServices = ['sim-user-api', 'sim-coupon-api', 'sim-event-apply']

const statusNames = [
  'Questions',
  'Com_select',
  'Com_update',
  'Com_insert',
  'Com_delete',
  // MariaDB's count of rows read by every statement (MySQL's Innodb_rows_read does not exist here).
  'Rows_read',
  'Innodb_row_lock_waits',
  'Innodb_row_lock_time',
] as const
type Status = Record<(typeof statusNames)[number], number>

async function globalStatus(pool: Pool): Promise<Status> {
  const [rows] = await pool.query<RowDataPacket[]>('SHOW GLOBAL STATUS WHERE Variable_name IN (?)', [statusNames])
  const values = Object.fromEntries(rows.map((row) => [row.Variable_name as string, Number(row.Value)]))
  const missing = statusNames.filter((name) => values[name] === undefined)
  // A counter this server does not have would read as 0 per second, silently.
  if (missing.length > 0) throw new Error(`the database has no status ${missing.join(', ')}`)
  return Object.fromEntries(statusNames.map((name) => [name, values[name]!])) as Status
}

const perSecond = (from: Status, to: Status, seconds: number) =>
  Object.fromEntries(statusNames.map((name) => [name, (to[name] - from[name]) / seconds])) as Status

interface Phase {
  members: number
  mode: PruneMode | 'none'
  /** Per second over the quiet window. */
  quiet: Status
  /** Row-lock waits and their total ms in the quiet window. */
  quietLockWaits: number
  quietLockMs: number
  /** Row-lock waits and their total ms during the batch run. */
  batchLockWaits: number
  batchLockMs: number
  run: RunProgress
  takeovers: number
  refused: number
  audit: boolean
  probes: MembersProbeReport[]
}

/** Sends `request` (if any) to a probe and resolves with its first message of `type`. */
function message<T>(child: ChildProcess, type: string, request?: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (got: { type: string } & T) => {
      if (got.type !== type) return
      child.off('message', onMessage)
      child.off('exit', onExit)
      resolve(got)
    }
    const onExit = (code: number | null) => reject(new Error(`a members probe exited (${code}) before '${type}'`))
    child.on('message', onMessage)
    child.once('exit', onExit)
    if (request) child.send({ type: request })
  })
}

async function liveSimulated(pool: Pool): Promise<number> {
  const [[row]] = await pool.query<RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM was_instances WHERE service IN (?) AND last_heartbeat > NOW(6) - INTERVAL ? MICROSECOND',
    [simulatedServices, 4 * heartbeatMs * 1000],
  )
  return Number(row?.n)
}

async function runPhase(
  ctx: { pool: Pool; url: string; origin: string; admin: string; processes: number; duration: number; log: (line: string) => void },
  members: number,
  mode: Phase['mode'],
): Promise<Phase> {
  const { pool, log } = ctx
  await resetBatchState(pool, { members: false })
  const probes: ChildProcess[] = []
  const processes = mode === 'none' ? 0 : ctx.processes
  for (let p = 0; p < processes; p++) {
    const count = Math.floor(members / processes) + (p < members % processes ? 1 : 0)
    const config: MembersProbeConfig = {
      url: ctx.url,
      mode: mode as PruneMode,
      services: Array.from({ length: count }, (_, i) => simulatedServices[(p + i * processes) % simulatedServices.length]!),
      heartbeatMs,
      loadEveryMs,
    }
    const child = fork(join(repoRoot, 'loadtest/src/probes/members.ts'), [JSON.stringify(config)], { execArgv: ['--import', 'tsx'], stdio: 'inherit' })
    probes.push(child)
  }
  try {
    await Promise.all(probes.map((child) => message(child, 'started')))
    for (const deadline = Date.now() + 60_000; (await liveSimulated(pool)) < members; await sleep(100)) {
      if (Date.now() > deadline) throw new Error(`only ${await liveSimulated(pool)} of ${members} simulated members registered`)
    }
    // Two beats more: every member has read the full view at least once.
    await sleep(2 * heartbeatMs)
    await Promise.all(probes.map((child) => message(child, 'marked', 'mark')))
    const before = await globalStatus(pool)
    const started = performance.now()
    await sleep(ctx.duration * 1000)
    const after = await globalStatus(pool)
    const quiet = perSecond(before, after, (performance.now() - started) / 1000)

    const beforeRun = await globalStatus(pool)
    const runId = await requestBatchRun(ctx.origin, ctx.admin, livePeriod)
    const run = await awaitRunEnd(pool, runId, { timeoutMs: 600_000 })
    const afterRun = await globalStatus(pool)
    const [events] = await pool.query<RowDataPacket[]>('SELECT kind, COUNT(*) AS n FROM batch_chunk_events WHERE run_id = ? GROUP BY kind', [runId])
    const eventCount = (kind: string) => Number(events.find((row) => row.kind === kind)?.n ?? 0)
    const reports = await Promise.all(probes.map((child) => message<{ report: MembersProbeReport }>(child, 'report', 'report')))
    const audit = await auditBatch(pool, { period: livePeriod, policy: defaultGradePolicy })
    const phase: Phase = {
      members,
      mode,
      quiet,
      quietLockWaits: after.Innodb_row_lock_waits - before.Innodb_row_lock_waits,
      quietLockMs: after.Innodb_row_lock_time - before.Innodb_row_lock_time,
      batchLockWaits: afterRun.Innodb_row_lock_waits - beforeRun.Innodb_row_lock_waits,
      batchLockMs: afterRun.Innodb_row_lock_time - beforeRun.Innodb_row_lock_time,
      run,
      takeovers: eventCount('TAKEOVER'),
      refused: eventCount('REFUSED'),
      audit: audit.ok,
      probes: reports.map((got) => got.report),
    }
    log(
      `  ${members} members, ${mode}: ${quiet.Questions.toFixed(0)} statements/s, ${quiet.Com_delete.toFixed(1)} DELETE/s, ${quiet.Rows_read.toFixed(0)} rows read/s, ${after.Innodb_row_lock_waits - before.Innodb_row_lock_waits} row-lock waits; batch ${run.totalSeconds?.toFixed(2)} s ${run.status}, audit ${audit.ok ? 'ok' : 'FAILED'}`,
    )
    return phase
  } finally {
    // A child that has exited has an exit code, or the signal that ended it.
    const running = probes.filter((child) => child.exitCode === null && child.signalCode === null)
    for (const child of running) child.kill()
    await Promise.all(running.map((child) => once(child, 'exit')))
  }
}

/** `npm run bench -- members`: the member table's cost at each count, both prune modes, against no simulated members. */
export async function benchMembers(options: MembersBenchOptions): Promise<string> {
  const { log } = options
  log(`seeding ${options.users.toLocaleString('en')} users / ${options.orders.toLocaleString('en')} orders`)
  const db = await seededDatabase(options.baseUrl, 'bench_members', options.users, options.orders)
  const machine = await machineInfo(db.pool)
  const stack = await startStack({ replicas: 2, batchWorkers: 2, databaseUrl: db.url, env: restartStackEnv })
  const phases: Phase[] = []
  try {
    const ctx = {
      pool: db.pool,
      url: db.url,
      origin: stack.url,
      admin: signToken(localAuthSecret(), { userId: 1, role: 'admin' }),
      processes: options.processes,
      duration: options.duration,
      log,
    }
    log(`no simulated members (the stack's own ${stack.replicas.length} replicas)`)
    phases.push(await runPhase(ctx, 0, 'none'))
    for (const members of options.members) {
      for (const mode of ['prune-every-beat', 'oldest-prunes'] as const) {
        log(`${members} simulated members in ${options.processes} processes, ${mode}`)
        phases.push(await runPhase(ctx, members, mode))
      }
    }
  } finally {
    await stack.stop({ stopDatabase: false })
    await db.pool.end()
  }
  const rows = phases.map(membersRow)
  const labels = phases.map((phase) => (phase.mode === 'none' ? 'none' : `${phase.members}\n${phase.mode}`))
  const bars = (title: string, yLabel: string, label: string, value: (phase: Phase) => number, digits = 0): Chart => ({
    kind: 'bars',
    title,
    caption: `Quiet window of ${options.duration} s; heartbeat ${heartbeatMs / 1000} s and load report every ${loadEveryMs} ms per member (the services' defaults).`,
    yLabel,
    categories: labels,
    series: [{ label, values: phases.map(value) }],
    digits,
  })
  const charts: Chart[] = [
    bars('Statements per second on the database', 'statements / s', 'all statements (Questions)', (phase) => phase.quiet.Questions),
    bars('Rows read per second', 'rows / s', 'Rows_read', (phase) => phase.quiet.Rows_read),
    bars('Row-lock waits in the quiet window', 'waits', 'Innodb_row_lock_waits', (phase) => phase.quietLockWaits),
  ]
  const markdown = [
    `# Many members — ${machine.date}`,
    '',
    `Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.database}; everything on this machine.`,
    `${options.users.toLocaleString('en')} users / ${options.orders.toLocaleString('en')} orders; a stack of 2 replicas per API and 2 batch-worker daemons behind nginx, and beside it N simulated members in ${options.processes} processes (services of their own, so the real replicas' ranks do not count them), each heartbeating every ${heartbeatMs / 1000} s and reporting its load every ${loadEveryMs} ms. A quiet window of ${options.duration} s, then the monthly run requested from the daemons.`,
    '`prune-every-beat` is the member before this change (every member runs the prune DELETE, a scan of the table, on each beat); `oldest-prunes` is the cluster package now (the oldest live member of each service prunes, by primary key).',
    '',
    markdownTable(rows),
  ].join('\n')
  const dir = writeReport('members', { machine, options: { ...options, log: undefined }, heartbeatMs, loadEveryMs, phases }, markdown, charts)
  log(markdown)
  // The baseline's failed statements are a finding (the table shows them); the cluster package's must be none.
  const wrong = phases.filter(
    (phase) => !phase.audit || phase.run.status !== 'COMPLETED' || (phase.mode === 'oldest-prunes' && phase.probes.some((probe) => probe.failed > 0)),
  )
  if (wrong.length > 0) throw new Error(`the members scenario failed its checks (audit, run, statements); see ${dir}`)
  return dir
}

function membersRow(phase: Phase): Record<string, string | number> {
  const statements = phase.probes.reduce((sum, probe) => sum + probe.statements, 0)
  const p99 = phase.probes.length ? Math.max(...phase.probes.map((probe) => probe.latency.p99)) : NaN
  return {
    members: phase.members,
    pruning: phase.mode,
    'statements/s': phase.quiet.Questions.toFixed(0),
    'UPDATE/s': phase.quiet.Com_update.toFixed(0),
    'DELETE/s': phase.quiet.Com_delete.toFixed(1),
    'rows read/s': phase.quiet.Rows_read.toFixed(0),
    'row-lock waits (quiet)': `${phase.quietLockWaits} (${phase.quietLockMs} ms)`,
    'member statement p99 ms (worst process)': phase.probes.length ? p99.toFixed(1) : '-',
    'view changes / views disagreeing': phase.probes.length
      ? `${phase.probes.reduce((sum, probe) => sum + probe.viewChanges, 0)} / ${disagreeing(phase.probes)}`
      : '-',
    'batch s (plan)': `${phase.run.totalSeconds?.toFixed(2)} (${phase.run.planSeconds?.toFixed(2)})`,
    'row-lock waits (batch)': `${phase.batchLockWaits} (${phase.batchLockMs} ms)`,
    'takeovers / refused': `${phase.takeovers} / ${phase.refused}`,
    audit: phase.audit ? 'ok' : 'FAILED',
    'member statements (failed)': `${statements} (${phase.probes.reduce((sum, probe) => sum + probe.failed, 0)})`,
  }
}

/** Members whose last view differs from the one most members of their service hold. */
function disagreeing(probes: MembersProbeReport[]): number {
  const counts = new Map<string, Map<string, number>>()
  for (const { service, digest } of probes.flatMap((probe) => probe.views)) {
    const byDigest = counts.get(service) ?? new Map<string, number>()
    counts.set(service, byDigest.set(digest, (byDigest.get(digest) ?? 0) + 1))
  }
  let outliers = 0
  for (const byDigest of counts.values()) {
    const held = [...byDigest.values()]
    outliers += held.reduce((a, b) => a + b, 0) - Math.max(...held)
  }
  return outliers
}
