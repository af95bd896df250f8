import type { ChunkOwnership } from '@commerce/cluster'
import {
  applyPendingRedemptions,
  inTransaction,
  uuidToBytes,
  uuidV7,
  type Pool,
  type PoolConnection,
  type ResultSetHeader,
  type RowDataPacket,
} from '@commerce/db'
import { batchErrors } from '../errors.ts'
import { gradeCouponKind, type Grade, type GradePolicy, type PeriodRange } from '@commerce/domain'

/**
 * Processing one chunk of targets (DESIGN §6.2 step 5). A strategy writes the chunk's rows; the
 * worker hands it the chunk and the fenced DONE. The service ships one, `bulk`: a handful of
 * set-based statements in one short transaction. Raw SQL: this is the batch's hot path, measured
 * against a floor of plain bulk statements. The benchmark's row-by-row baselines are strategies
 * too, registered from its side (loadtest/src/baselines) out of these building blocks.
 */
export interface ChunkJob {
  pool: Pool
  chunk: ChunkOwnership
  range: PeriodRange
  policy: GradePolicy
  leaseMs: number
  /** The fenced DONE inside the chunk's final transaction: false once another worker owns the chunk. */
  fence: (conn: PoolConnection, counts: ChunkCounts) => Promise<boolean>
}

/** What a chunk wrote; null from a strategy when fencing refused its commit. */
export interface ChunkCounts {
  targets: number
  writes: number
  couponsIssued: number
  couponsRevoked: number
  redemptionsApplied: number
}

export type ChunkStrategy = (job: ChunkJob) => Promise<ChunkCounts | null>
/** Strategies by the name a run records (batch_runs.strategy); look names up with hasStrategy / strategyNamed. */
export type ChunkStrategies = Readonly<Record<string, ChunkStrategy>>

export interface Target {
  userId: number
  fromGrade: Grade
  toGrade: Grade
  total: number
  orderCount: number
}

interface TargetRow extends RowDataPacket {
  user_id: number
  from_grade: Grade
  to_grade: Grade
  total: number
  order_count: number
}

/** The chunk's targets not yet done (a grade_history row marks a target done, per row). */
export async function loadTargets(conn: PoolConnection, job: ChunkJob): Promise<Target[]> {
  const [rows] = await conn.query<TargetRow[]>(
    `SELECT t.user_id, u.grade AS from_grade, t.to_grade, t.total, t.order_count
     FROM batch_targets t JOIN users u ON u.id = t.user_id
     WHERE t.run_id = ? AND t.chunk_no = ?
       AND NOT EXISTS (SELECT 1 FROM grade_history h WHERE h.user_id = t.user_id AND h.period = ?)
     ORDER BY t.user_id`,
    [job.chunk.runId, job.chunk.chunkNo, job.range.period],
  )
  return rows.map((row) => ({ userId: row.user_id, fromGrade: row.from_grade, toGrade: row.to_grade, total: Number(row.total), orderCount: row.order_count }))
}

export function couponRows(targets: Target[], job: ChunkJob, issuedAt: Date): unknown[][] {
  return targets.flatMap((target) => {
    const { count, amount } = job.policy.coupons[target.toGrade]
    return Array.from({ length: count }, (_, index) => [
      uuidToBytes(uuidV7()),
      target.userId,
      gradeCouponKind,
      job.range.period,
      index + 1,
      amount,
      'ISSUED',
      issuedAt,
      job.range.couponExpiresAt,
    ])
  })
}

const insertCouponSql = `INSERT INTO coupons (id, user_id, kind, period, slot, amount, status, issued_at, expires_at) VALUES ?
  ON DUPLICATE KEY UPDATE id = id`
const insertHistorySql = `INSERT INTO grade_history (user_id, period, from_grade, to_grade, total, order_count) VALUES ?
  ON DUPLICATE KEY UPDATE id = id`
export const revokeSql = (userFilter: string) => `UPDATE coupons SET status = 'REVOKED', revoked_at = NOW(6)
  WHERE ${userFilter} AND kind = ? AND period < ? AND status = 'ISSUED'`

export const emptyCounts = (): ChunkCounts => ({ targets: 0, writes: 0, couponsIssued: 0, couponsRevoked: 0, redemptionsApplied: 0 })

/** Redemptions, then the fenced DONE, inside the chunk's (final) transaction; null ⇒ fenced out. */
export async function finishChunk(conn: PoolConnection, job: ChunkJob, userIds: number[], counts: ChunkCounts): Promise<ChunkCounts | null> {
  const applied = await applyPendingRedemptions(conn, userIds)
  counts.redemptionsApplied += applied.redeemed + applied.rejected
  return (await job.fence(conn, counts)) ? counts : null
}

/** One chunk in one transaction with set-based statements. */
export const bulkStrategy: ChunkStrategy = (job) =>
  inTransaction(job.pool, async (conn) => {
    const targets = await loadTargets(conn, job)
    const counts = emptyCounts()
    counts.targets = targets.length
    if (targets.length > 0) {
      const userIds = targets.map((t) => t.userId)
      const [history] = await conn.query<ResultSetHeader>(insertHistorySql, [
        targets.map((t) => [t.userId, job.range.period, t.fromGrade, t.toGrade, t.total, t.orderCount]),
      ])
      const [graded] = await conn.query<ResultSetHeader>(
        `UPDATE users u JOIN batch_targets t ON t.user_id = u.id AND t.run_id = ? AND t.chunk_no = ?
         SET u.grade = t.to_grade, u.grade_updated_at = NOW(6)`,
        [job.chunk.runId, job.chunk.chunkNo],
      )
      const [revoked] = await conn.query<ResultSetHeader>(revokeSql('user_id IN (?)'), [userIds, gradeCouponKind, job.range.period])
      const coupons = couponRows(targets, job, new Date())
      let issued = 0
      if (coupons.length > 0) {
        const [inserted] = await conn.query<ResultSetHeader>(insertCouponSql, [coupons])
        issued = inserted.affectedRows
      }
      counts.couponsIssued = issued
      counts.couponsRevoked = revoked.affectedRows
      counts.writes = history.affectedRows + graded.affectedRows + revoked.affectedRows + issued
    }
    return finishChunk(
      conn,
      job,
      targets.map((t) => t.userId),
      counts,
    )
  })

/** The strategies of the service itself. */
export const builtInStrategies: ChunkStrategies = { bulk: bulkStrategy }

/** An own name only: `strategies["constructor"]` is Object, which no run can be processed with. */
export const hasStrategy = (strategies: ChunkStrategies, name: string): boolean => Object.hasOwn(strategies, name)

/** The strategy of that name, or the refusal a request for one this worker lacks gets. */
export function strategyNamed(strategies: ChunkStrategies, name: string): ChunkStrategy {
  const strategy = hasStrategy(strategies, name) ? strategies[name] : undefined
  if (!strategy) throw batchErrors.UNKNOWN_STRATEGY(`this worker has no chunk strategy "${name}" (it has ${Object.keys(strategies).join(', ')})`)
  return strategy
}
