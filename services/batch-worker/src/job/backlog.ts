import type { Pool, Rows } from '@commerce/db'
import { gradeStep, monthlyJob } from './runs.ts'

// What is waiting, read from the database for /metrics (plugins/run-gauges.ts,
// plugins/redemption-gauges.ts) and the operations console. Ages are on the database clock, like
// every other decision of the cluster, so a replica's own clock never shows in them.

export interface OpenRun {
  id: number
  period: string
  status: 'REQUESTED' | 'PLANNING' | 'RUNNING'
  ageSeconds: number
  chunks: number | null
  chunksDone: number
}

/** The oldest run not COMPLETED/FAILED (null: none), age on the DATABASE clock (TIMESTAMPDIFF vs NOW(6)) since requested_at. */
export async function readOpenRun(pool: Pool): Promise<OpenRun | null> {
  // idx_batch_runs_status finds the few open runs; the DONE count is a range of
  // idx_step_execution_log_status (run_id, status), which carries the step (part of the primary key).
  const [rows] = await pool.query<Rows<OpenRun>>(
    `SELECT r.id, r.period, r.status, r.chunk_count AS chunks,
            TIMESTAMPDIFF(MICROSECOND, r.requested_at, NOW(6)) / 1e6 AS ageSeconds,
            (SELECT COUNT(*) FROM step_execution_log s WHERE s.run_id = r.id AND s.step = ? AND s.status = 'DONE') AS chunksDone
     FROM batch_runs r
     WHERE r.job = ? AND r.status IN ('REQUESTED', 'PLANNING', 'RUNNING')
     ORDER BY r.requested_at, r.id
     LIMIT 1`,
    [gradeStep, monthlyJob],
  )
  const row = rows[0]
  if (!row) return null
  // The pool returns BIGINT counts and the DOUBLE quotient as numbers (supportBigNumbers, no strings).
  return { id: row.id, period: row.period, status: row.status, ageSeconds: row.ageSeconds, chunks: row.chunks, chunksDone: row.chunksDone }
}

export interface DeferredRedemptions {
  pending: number
  oldestPendingSeconds: number | null
  appliedLastMinute: number
}

/** coupon_redemptions: PENDING count, age of the oldest PENDING (requested_at, DB clock), and how many were resolved (resolved_at) in the last 60 s. */
export async function readDeferredRedemptions(pool: Pool): Promise<DeferredRedemptions> {
  // PENDING: idx_redemptions_status_user bounds both to the PENDING rows (few: each waits for one
  // chunk or the sweeper). Resolved in the last minute: every resolved redemption is kept, so the
  // status index would bound nothing; idx_redemptions_resolved_at (migration 0007) makes it a range
  // over the last minute's keys, cheap enough for every scrape.
  const [rows] = await pool.query<Rows<DeferredRedemptions>>(
    `SELECT p.pending, TIMESTAMPDIFF(MICROSECOND, p.oldest, NOW(6)) / 1e6 AS oldestPendingSeconds,
            (SELECT COUNT(*) FROM coupon_redemptions WHERE resolved_at > NOW(6) - INTERVAL 60 SECOND) AS appliedLastMinute
     FROM (SELECT COUNT(*) AS pending, MIN(requested_at) AS oldest FROM coupon_redemptions WHERE status = 'PENDING') p`,
  )
  // An aggregate without GROUP BY always answers one row.
  const [row] = rows
  if (!row) throw new Error('coupon_redemptions backlog: no row')
  return { pending: row.pending, oldestPendingSeconds: row.oldestPendingSeconds, appliedLastMinute: row.appliedLastMinute }
}
