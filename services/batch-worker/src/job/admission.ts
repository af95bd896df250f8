import type { BatchRun, Pool, RowDataPacket, Rows } from '@commerce/db'
import { parsePeriod, type GradePolicy, type PeriodRange } from '@commerce/domain'
import { kitErrors } from '@commerce/kit'
import { batchErrors } from '../errors.ts'
import { hasStrategy, type ChunkStrategies } from './chunks.ts'
import { monthlyJob, type RunRepository, type RunRow } from './runs.ts'

/**
 * Which monthly runs an operator may start (DESIGN §5). A run regrades every user from its
 * period's orders and cannot be undone, so a typo must be refused before anything is written:
 * a period that is not a real month, one that has not ended, one that ends before the first
 * order exists (everyone would become BRONZE), or one older than a run that exists in any state
 * (finishing after it, it would overwrite newer grades with older ones) unless the operator
 * forces it, with a reason the run keeps. The last rule is decided by the database when the run
 * is created (runs.ts insertRun), so two requests at once cannot both pass it. A request for a
 * period that already has a run joins that run: it writes nothing new.
 */
export interface RunRequest {
  period: string
  force?: boolean
  reason?: string
}

export interface AdmissionFacts {
  now: Date
  /** Some order is older than the end of the period. */
  ordersBeforeEnd: boolean
  /** The latest period with a run in any state, YYYY-MM (sorts as text), or null. */
  latestRun: string | null
}

/**
 * The one rule for `force` and its reason, on every path (POST /runs, `npm run batch`, `batch-worker
 * run`, and openRun/previewRun themselves): a reason of 10 to 500 characters once trimmed is
 * required with force, and refused without it (nothing would record it: the operator meant force,
 * or typed it by mistake). Returns the reason as the run keeps it, trimmed; null without force.
 */
export function forceReasonOf(request: Pick<RunRequest, 'force' | 'reason'>): string | null {
  if (!request.force) {
    if (request.reason !== undefined) throw kitErrors.VALIDATION('a reason goes with force: without force nothing records it')
    return null
  }
  const reason = request.reason?.trim() ?? ''
  if (reason.length < 10 || reason.length > 500)
    throw kitErrors.VALIDATION('force needs a reason of 10 to 500 characters, surrounding spaces not counted: it is recorded on the run')
  return reason
}

/** Returns when the request may create its run; throws the refusal otherwise. */
export function admitRunRequest(request: RunRequest, range: PeriodRange, facts: AdmissionFacts): void {
  if (facts.now < range.end) throw batchErrors.PERIOD_NOT_ENDED()
  if (!facts.ordersBeforeEnd)
    throw batchErrors.PERIOD_BEFORE_ORDERS(`no order is older than the end of ${request.period}: the run would grade every user BRONZE`)
  if (facts.latestRun !== null && request.period < facts.latestRun && !request.force) throw superseded(request.period, facts.latestRun)
}

const superseded = (period: string, later: string) =>
  batchErrors.PERIOD_SUPERSEDED(`${later} already has a run: ${period} finishing after it would overwrite newer grades; pass force with a reason`)

export function parseRunPeriod(period: string, timeZone: string): PeriodRange {
  const range = parsePeriod(period, timeZone)
  if (!range) throw batchErrors.INVALID_PERIOD(`period must be a month YYYY-MM from 1970 on, got "${period}"`)
  return range
}

/** The facts `admitRunRequest` decides on, read in two indexed lookups. */
export async function readAdmissionFacts(pool: Pool, range: PeriodRange, now: Date): Promise<AdmissionFacts> {
  const [orders] = await pool.query<RowDataPacket[]>('SELECT 1 FROM orders WHERE ordered_at < ? LIMIT 1', [range.end])
  // MAX over no rows is one row with NULL.
  const [[latest]] = await pool.query<Rows<{ period: BatchRun['period'] | null }>>('SELECT MAX(period) AS period FROM batch_runs WHERE job = ?', [monthlyJob])
  return { now, ordersBeforeEnd: orders.length > 0, latestRun: latest?.period ?? null }
}

interface OpenRunOptions {
  /** The strategy a new run records: one of `strategies`. */
  strategy: string
  /** The strategies the requester's workers process. */
  strategies: ChunkStrategies
  /** A REQUESTED run no worker has claimed for this long is orphaned (the plan lease: a planner's patience too). */
  orphanedAfterMs: number
  publishDelayMs: number
  timeZone: string
  now: () => Promise<Date>
}

/**
 * The run for `request.period`: the existing one (any status: requesting again joins it), or a
 * new one once `admitRunRequest` allows it. `now` is the caller's clock (the database's by default).
 */
export async function openRun(pool: Pool, runs: RunRepository, request: RunRequest, opts: OpenRunOptions): Promise<RunRow> {
  const forceReason = forceReasonOf(request)
  const range = parseRunPeriod(request.period, opts.timeZone)
  const existing = await existingOrAdmitted(pool, runs, request, range, opts.now, opts.publishDelayMs)
  if (existing) return served(runs, existing, opts)
  // Admitted on what was read; the creation decides again, atomically, against a later run.
  const created = await runs.ensure(request.period, opts.strategy, opts.publishDelayMs, forceReason)
  if ('supersededBy' in created) throw superseded(request.period, created.supersededBy)
  return served(runs, created, opts)
}

/**
 * A run no worker serves must not hold its period forever (no daemon joins a run whose strategy
 * it lacks): one still REQUESTED — never planned, so nothing of it is written — a plan lease after
 * its request, whose strategy the requester lacks, is taken over with the request's strategy.
 * Sooner, it may be a benchmark's run whose own worker is about to plan it: it is left alone, as
 * is a run being planned or worked.
 */
async function served(runs: RunRepository, run: RunRow, opts: OpenRunOptions): Promise<RunRow> {
  if (run.status !== 'REQUESTED' || hasStrategy(opts.strategies, run.strategy) || !hasStrategy(opts.strategies, opts.strategy)) return run
  // Not orphaned yet, or lost to a planner or another takeover: the run as it is now is the one to join.
  await runs.takeOver(run.id, run.strategy, opts.strategy, opts.orphanedAfterMs)
  return (await runs.find(run.period, opts.publishDelayMs)) ?? run
}

/** The period's run when it has one (joining it writes nothing new); otherwise null once admitted, or the refusal. */
async function existingOrAdmitted(
  pool: Pool,
  runs: RunRepository,
  request: RunRequest,
  range: PeriodRange,
  now: () => Promise<Date>,
  publishDelayMs = 0,
): Promise<RunRow | null> {
  const existing = await runs.find(request.period, publishDelayMs)
  if (!existing) admitRunRequest(request, range, await readAdmissionFacts(pool, range, await now()))
  return existing
}

/** A dry run: what `openRun` would plan for the request, refused the same way, with nothing written. */
export async function previewRun(
  pool: Pool,
  runs: RunRepository,
  request: RunRequest,
  opts: { policy: GradePolicy; chunkSize: number; timeZone: string; now: () => Promise<Date> },
) {
  forceReasonOf(request)
  const range = parseRunPeriod(request.period, opts.timeZone)
  await existingOrAdmitted(pool, runs, request, range, opts.now)
  const moves = await runs.previewPlan(range, opts.policy)
  const targets = moves.reduce((sum, move) => sum + move.users, 0)
  const couponsToIssue = moves.reduce((sum, move) => sum + move.users * opts.policy.coupons[move.to].count, 0)
  return { period: request.period, dryRun: true as const, targets, chunks: Math.ceil(targets / opts.chunkSize), couponsToIssue, moves }
}
