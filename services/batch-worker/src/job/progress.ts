import { readReportedPacing } from '@commerce/cluster'
import type { Pool, RowDataPacket } from '@commerce/db'
import { isPacingReason, type PacingReason } from './pacing.ts'
import { monthlyJob } from './runs.ts'

export interface RunProgress {
  id: number
  period: string
  status: string
  strategy: string
  targets: number | null
  chunks: number | null
  chunksDone: number
  chunksClaimed: number
  couponsIssued: number
  couponsRevoked: number
  redemptionsApplied: number
  /** Seconds, on the DB clock: planning, from publish to COMPLETED, and request to COMPLETED. */
  planSeconds: number | null
  processSeconds: number | null
  totalSeconds: number | null
  forceReason: string | null
}

// The run and its chunks' totals; `steps` restricts the chunks read to the runs asked for.
const progressQuery = (runs: string, steps: string) =>
  `SELECT r.id, r.period, r.status, r.strategy, r.target_count, r.chunk_count, r.force_reason,
          COALESCE(s.done, 0) AS done, COALESCE(s.claimed, 0) AS claimed,
          COALESCE(s.issued, 0) AS issued, COALESCE(s.revoked, 0) AS revoked, COALESCE(s.applied, 0) AS applied,
          TIMESTAMPDIFF(MICROSECOND, r.plan_started_at, r.planned_at) / 1e6 AS plan_s,
          TIMESTAMPDIFF(MICROSECOND, r.published_at, r.finished_at) / 1e6 AS process_s,
          TIMESTAMPDIFF(MICROSECOND, r.requested_at, r.finished_at) / 1e6 AS total_s
   FROM ${runs} r
   LEFT JOIN (SELECT run_id, SUM(status = 'DONE') AS done, SUM(status = 'CLAIMED') AS claimed,
                     SUM(coupons_issued) AS issued, SUM(coupons_revoked) AS revoked, SUM(redemptions_applied) AS applied
              FROM step_execution_log ${steps} GROUP BY run_id) s ON s.run_id = r.id`

function progressOf(row: RowDataPacket): RunProgress {
  const seconds = (value: unknown) => (value === null ? null : Number(value))
  return {
    id: row.id,
    period: row.period,
    status: row.status,
    strategy: row.strategy,
    targets: row.target_count,
    chunks: row.chunk_count,
    chunksDone: Number(row.done),
    chunksClaimed: Number(row.claimed),
    couponsIssued: Number(row.issued),
    couponsRevoked: Number(row.revoked),
    redemptionsApplied: Number(row.applied),
    planSeconds: seconds(row.plan_s),
    processSeconds: seconds(row.process_s),
    totalSeconds: seconds(row.total_s),
    forceReason: row.force_reason,
  }
}

/** A run's progress and timings as stored in the database (`--status`, `GET /runs`). */
export async function readRunProgress(pool: Pool, by: { period: string } | { id: number }): Promise<RunProgress | null> {
  const [rows] = await pool.query<RowDataPacket[]>(`${progressQuery('batch_runs', '')} WHERE r.job = ? AND ${'id' in by ? 'r.id = ?' : 'r.period = ?'}`, [
    monthlyJob,
    'id' in by ? by.id : by.period,
  ])
  const row = rows[0]
  return row ? progressOf(row) : null
}

/** The newest `limit` runs, newest first (the console). */
export async function listRecentRuns(pool: Pool, limit: number): Promise<RunProgress[]> {
  const newest = '(SELECT * FROM batch_runs WHERE job = ? ORDER BY id DESC LIMIT ?)'
  const [rows] = await pool.query<RowDataPacket[]>(`${progressQuery(newest, `WHERE run_id IN (SELECT id FROM ${newest} n)`)} ORDER BY r.id DESC`, [
    monthlyJob,
    limit,
    monthlyJob,
    limit,
  ])
  return rows.map(progressOf)
}

export interface RunStatusView extends RunProgress {
  /** While RUNNING: the pace each live worker last reported on the run (job/pacing.ts); else empty. */
  pacing: { worker: string; level: number; reason: PacingReason }[]
}

/** The run's progress and, while it runs, its workers' pace (`GET /runs`). */
export async function readRunStatus(
  pool: Pool,
  by: { period: string } | { id: number },
  { heartbeatMs }: { heartbeatMs: number },
): Promise<RunStatusView | null> {
  const progress = await readRunProgress(pool, by)
  if (!progress) return null
  return { ...progress, pacing: await readWorkerPaces(pool, progress, { heartbeatMs }) }
}

/**
 * While the run is RUNNING, the pace each live worker last reported on it (a reason this build
 * does not know is left out); none otherwise, as a worker keeps its last report after the run.
 */
export async function readWorkerPaces(
  pool: Pool,
  run: { id: number; status: string },
  { heartbeatMs }: { heartbeatMs: number },
): Promise<RunStatusView['pacing']> {
  if (run.status !== 'RUNNING') return []
  const reported = await readReportedPacing(pool, { runId: run.id, heartbeatMs })
  return reported.flatMap(({ worker, level, reason }) => (isPacingReason(reason) ? [{ worker, level, reason }] : []))
}
