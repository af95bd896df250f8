import {
  catchUp,
  inTransaction,
  isDeadlock,
  sqlErrorCode,
  uuidFromBytes,
  uuidToBytes,
  type BatchTarget,
  type Pool,
  type PoolConnection,
  type ResultSetHeader,
  type RowDataPacket,
  type Rows,
  type RunStatus,
  type User,
} from '@commerce/db'
import { storeTargetSet } from '@commerce/cluster'
import { grades, type Grade, type GradePolicy, type PeriodRange } from '@commerce/domain'

/**
 * The run protocol's statements over `batch_runs`, `batch_targets` and `step_execution_log`
 * (DESIGN §6.2 steps 1–3 and 6). Raw SQL: every step is a conditional UPDATE or a set-based
 * INSERT … SELECT whose row count is the decision, and the clock is always the database's.
 */
export const monthlyJob = 'monthly-grade'
export const gradeStep = 'grade'

export interface RunRow {
  id: number
  period: string
  status: RunStatus
  strategy: string
  chunkSize: number | null
  chunkCount: number | null
  targetCount: number | null
  planner: string | null
  /** Microseconds the publish delay still has to run on the DB clock (≤ 0: over; null: not published yet). */
  publishWaitMicros: number | null
}

interface RunDbRow extends RowDataPacket {
  id: number
  period: string
  status: RunStatus
  strategy: string
  chunk_size: number | null
  chunk_count: number | null
  target_count: number | null
  planner: Buffer | null
  publish_wait: number | null
}

const toRun = (row: RunDbRow): RunRow => ({
  id: row.id,
  period: row.period,
  status: row.status,
  strategy: row.strategy,
  chunkSize: row.chunk_size,
  chunkCount: row.chunk_count,
  targetCount: row.target_count,
  planner: row.planner ? uuidFromBytes(row.planner) : null,
  publishWaitMicros: row.publish_wait === null ? null : Number(row.publish_wait),
})

/** A range of user ids, both ends included. */
interface UserSlice {
  from: number
  to: number
}
const allUsers: UserSlice = { from: 0, to: Number.MAX_SAFE_INTEGER }
/**
 * The run's targets as one set-based SELECT over the month's PAID orders: a target is a user whose
 * grade changes or who receives coupons (DESIGN §5). The GROUP BY walks idx_orders_user_time in
 * user order: a covering index scan with no temporary table. Planning inserts these rows; a dry
 * run counts them.
 */
function targetsQuery(range: PeriodRange, policy: GradePolicy, users: UserSlice = allUsers): { sql: string; params: unknown[] } {
  const { thresholds, coupons } = policy
  const couponGrades = grades.filter((grade) => coupons[grade].count > 0)
  return {
    sql: `SELECT s.user_id, s.from_grade, s.to_grade, s.total, s.order_count
          FROM (
            SELECT u.id AS user_id, u.grade AS from_grade, COALESCE(a.total, 0) AS total, COALESCE(a.order_count, 0) AS order_count,
                   CASE WHEN COALESCE(a.total, 0) >= ? THEN 'VIP' WHEN COALESCE(a.total, 0) >= ? THEN 'GOLD'
                        WHEN COALESCE(a.total, 0) >= ? THEN 'SILVER' ELSE 'BRONZE' END AS to_grade
            FROM users u
            LEFT JOIN (
              SELECT user_id, SUM(amount) AS total, COUNT(*) AS order_count
              FROM orders FORCE INDEX (idx_orders_user_time)
              WHERE user_id BETWEEN ? AND ? AND ordered_at >= ? AND ordered_at < ? AND status = 'PAID'
              GROUP BY user_id
            ) a ON a.user_id = u.id
            WHERE u.id BETWEEN ? AND ?
          ) s
          WHERE s.to_grade <> s.from_grade OR s.to_grade IN (?)`,
    params: [
      thresholds.VIP,
      thresholds.GOLD,
      thresholds.SILVER,
      users.from,
      users.to,
      range.start,
      range.end,
      users.from,
      users.to,
      couponGrades.length > 0 ? couponGrades : [''],
    ],
  }
}

/** Step 1's statement needs it: its NOT EXISTS is a locking read only under REPEATABLE READ (see insertRun). */
export const admissionIsolation = 'REPEATABLE READ'

/**
 * Step 1's statement, the decision of admission (DESIGN §5): the period's run, REQUESTED, unless
 * it exists or — unforced — a later period has a run in any state. True when this call created it.
 * In a REPEATABLE READ transaction the NOT EXISTS takes shared next-key locks on the later
 * periods' range of uq_batch_runs_job_period (up to the next key): an uncommitted later run is
 * waited for, then seen; a later period's insert into that range waits for this transaction; two
 * crossing ones deadlock and one is retried. So an older period is never created after a newer
 * one without force, whatever the interleaving.
 *
 * On Galera those locks are the node's own. There an admission that creates a run also writes
 * the job's batch_admissions row: two crossing admissions on two nodes then share a written key,
 * the cluster refuses the second to commit (1213, retried like the deadlock), and its retry —
 * after its node has caught up with the cluster (ensure) — sees the first's run.
 */
export async function insertRun(conn: PoolConnection, run: { period: string; strategy: string; forceReason: string | null }): Promise<boolean> {
  const [result] = await conn.query<ResultSetHeader>(
    `INSERT IGNORE INTO batch_runs (job, period, strategy, status, force_reason)
     SELECT ?, ?, ?, 'REQUESTED', ? FROM DUAL
     WHERE ? OR NOT EXISTS (SELECT 1 FROM batch_runs WHERE job = ? AND period > ?)`,
    [monthlyJob, run.period, run.strategy, run.forceReason, run.forceReason !== null, monthlyJob, run.period],
  )
  if (result.affectedRows !== 1) return false
  await conn.query('INSERT INTO batch_admissions (job, admitted) VALUES (?, 1) ON DUPLICATE KEY UPDATE admitted = admitted + 1', [monthlyJob])
  return true
}

/** Deadlocks two crossing admissions may meet (insertRun) before one of them commits. */
const admissionAttempts = 5
/**
 * A deadlock victim: InnoDB rolled the transaction back. An INSERT … SELECT holds the table's
 * AUTO-INC lock (innodb_autoinc_lock_mode 1); chosen as the victim while waiting for it, it
 * reports ER_AUTOINC_READ_FAILED instead of ER_LOCK_DEADLOCK.
 */
const crossedAdmission = (error: unknown) => isDeadlock(error) || sqlErrorCode(error) === 'ER_AUTOINC_READ_FAILED'

export function createRunRepository(pool: Pool) {
  async function find(period: string, publishDelayMs = 0): Promise<RunRow | null> {
    const [rows] = await pool.query<RunDbRow[]>(
      `SELECT id, period, status, strategy, chunk_size, chunk_count, target_count, planner,
              TIMESTAMPDIFF(MICROSECOND, NOW(6), published_at + INTERVAL ? MICROSECOND) AS publish_wait
       FROM batch_runs WHERE job = ? AND period = ?`,
      [publishDelayMs * 1000, monthlyJob, period],
    )
    return rows[0] ? toRun(rows[0]) : null
  }

  return {
    find,

    /**
     * Step 1: idempotent start; a forcing reason skips the later-period check. The first caller's
     * strategy (and reason) sticks to the run. `supersededBy`: refused, a later period has a run.
     */
    async ensure(period: string, strategy: string, publishDelayMs: number, forceReason: string | null = null): Promise<RunRow | { supersededBy: string }> {
      for (let attempt = 1; ; attempt++) {
        try {
          // Outside the transaction: a causal wait inside one is skipped.
          await catchUp(pool, 'batch_runs')
          await inTransaction(pool, (conn) => insertRun(conn, { period, strategy, forceReason }), { isolation: admissionIsolation })
          break
        } catch (error) {
          if (!crossedAdmission(error) || attempt >= admissionAttempts) throw error
        }
      }
      const run = await find(period, publishDelayMs)
      if (run) return run
      const [[later]] = await pool.query<Rows<{ period: string | null }>>('SELECT MAX(period) AS period FROM batch_runs WHERE job = ? AND period > ?', [
        monthlyJob,
        period,
      ])
      if (later?.period) return { supersededBy: later.period }
      throw new Error(`batch run for ${period} was neither created nor refused`)
    },

    /**
     * Step 2a: become the planner, take over from a planner whose lease ran out, or — as the
     * planner whose plan failed (it rolled back) — plan again at once instead of waiting out its own lease.
     */
    async claimPlanning(runId: number, me: string, leaseMs: number, strategy: string): Promise<boolean> {
      // On the strategy the worker read and has: a run taken over since (takeOver) is not its to plan.
      const [result] = await pool.query<ResultSetHeader>(
        `UPDATE batch_runs
         SET status = 'PLANNING', planner = ?, plan_lease_until = NOW(6) + INTERVAL ? MICROSECOND, plan_started_at = NOW(6)
         WHERE id = ? AND strategy = ? AND (status = 'REQUESTED' OR (status = 'PLANNING' AND (plan_lease_until < NOW(6) OR planner = ?)))`,
        [uuidToBytes(me), leaseMs * 1000, runId, strategy, uuidToBytes(me)],
      )
      return result.affectedRows === 1
    },

    /**
     * A run left unplanned for `orphanedAfterMs` since its request, recorded with a strategy the
     * requester lacks, takes the request's (admission.ts): only while still REQUESTED with the
     * strategy read, so a worker's planning claim (conditional on the strategy too) and a takeover
     * never both win.
     */
    async takeOver(runId: number, from: string, to: string, orphanedAfterMs: number): Promise<boolean> {
      const [result] = await pool.query<ResultSetHeader>(
        `UPDATE batch_runs SET strategy = ?
         WHERE id = ? AND status = 'REQUESTED' AND strategy = ? AND requested_at < NOW(6) - INTERVAL ? MICROSECOND`,
        [to, runId, from, orphanedAfterMs * 1000],
      )
      return result.affectedRows === 1
    },

    /** Keeps the plan lease while the plan is computed; false once another worker has taken it over. */
    async renewPlanning(runId: number, me: string, leaseMs: number): Promise<boolean> {
      const [result] = await pool.query<ResultSetHeader>(
        `UPDATE batch_runs SET plan_lease_until = NOW(6) + INTERVAL ? MICROSECOND WHERE id = ? AND status = 'PLANNING' AND planner = ?`,
        [leaseMs * 1000, runId, uuidToBytes(me)],
      )
      return result.affectedRows === 1
    },

    /**
     * Step 2b + 3: in one transaction, compute the targets with one set-based statement over the
     * month's PAID orders, fix the chunk plan, and publish (RUNNING, published_at still NULL: see
     * markPublished). Fenced on the planner: a planner that lost its lease rolls back. Returns the
     * target count, or null when fenced out.
     */
    async planAndPublish(
      /**
       * `sliceUsers` users per statement: a month's plan is a few statements of a fraction of a
       * second each (idx_orders_user_time makes a user range a range scan), in one transaction.
       */
      run: { id: number; me: string; range: PeriodRange; chunkSize: number; sliceUsers: number; policy: GradePolicy },
      /** Awaited between the plan's statements with the last one's duration: where the caller paces the plan. */
      betweenSlices: (sliceMs: number) => Promise<void> = async () => undefined,
    ): Promise<number | null> {
      return inTransaction(pool, async (conn) => {
        const [[bounds]] = await conn.query<Rows<{ lo: number | null; hi: number | null }>>('SELECT MIN(id) AS lo, MAX(id) AS hi FROM users')
        let targetCount = 0
        const targetIds: number[] = []
        for (let from = bounds?.lo ?? 0, hi = bounds?.hi ?? -1; from <= hi; from += run.sliceUsers) {
          const started = performance.now()
          const targets = targetsQuery(run.range, run.policy, { from, to: from + run.sliceUsers - 1 })
          // Chunk numbers continue across slices (user order, the targets before counted in), so
          // the plan is the one a single statement would fix up front.
          const [inserted] = await conn.query<ResultSetHeader>(
            `INSERT INTO batch_targets (run_id, user_id, chunk_no, total, order_count, to_grade)
             SELECT ?, t.user_id, FLOOR((? + ROW_NUMBER() OVER (ORDER BY t.user_id) - 1) / ?), t.total, t.order_count, t.to_grade
             FROM (${targets.sql}) t`,
            [run.id, targetCount, run.chunkSize, ...targets.params],
          )
          targetCount += inserted.affectedRows
          if (inserted.affectedRows > 0) {
            // Read back in id order over the primary key (run_id, user_id): the compact set the guards load.
            const [ids] = await conn.query<Rows<Pick<BatchTarget, 'userId'>>>(
              'SELECT user_id AS userId FROM batch_targets WHERE run_id = ? AND user_id BETWEEN ? AND ? ORDER BY user_id',
              [run.id, from, from + run.sliceUsers - 1],
            )
            for (const { userId } of ids) targetIds.push(userId)
          }
          if (from + run.sliceUsers <= hi) await betweenSlices(performance.now() - started)
        }
        if (targetCount > 0) await storeTargetSet(conn, run.id, targetIds)
        await conn.query(
          `INSERT INTO step_execution_log (run_id, step, chunk_no)
           SELECT DISTINCT run_id, ?, chunk_no FROM batch_targets WHERE run_id = ?`,
          [gradeStep, run.id],
        )
        const [published] = await conn.query<ResultSetHeader>(
          `UPDATE batch_runs
           SET status = IF(? = 0, 'COMPLETED', 'RUNNING'), chunk_size = ?, chunk_count = CEIL(? / ?), target_count = ?,
               planned_at = NOW(6), published_at = IF(? = 0, NOW(6), NULL), finished_at = IF(? = 0, NOW(6), NULL)
           WHERE id = ? AND status = 'PLANNING' AND planner = ?`,
          [targetCount, run.chunkSize, targetCount, run.chunkSize, targetCount, targetCount, targetCount, run.id, uuidToBytes(run.me)],
        )
        return published.affectedRows === 1 ? targetCount : null
      })
    },

    /**
     * Step 3b: the publish delay starts here, after the plan's commit, on the DB clock. The API
     * replicas see the targets only once they are committed, and a NOW(6) inside the plan is the
     * start of its statement (a commit may come long after it). Any worker that finds the run
     * RUNNING with published_at NULL sets it, so a planner dying right after its commit stalls nothing.
     */
    async markPublished(runId: number): Promise<void> {
      await pool.query("UPDATE batch_runs SET published_at = NOW(6) WHERE id = ? AND status = 'RUNNING' AND published_at IS NULL", [runId])
    },

    /** What planning `range` would find, written nowhere: targets by (from, to) grade. */
    async previewPlan(range: PeriodRange, policy: GradePolicy): Promise<{ from: Grade; to: Grade; users: number }[]> {
      const targets = targetsQuery(range, policy)
      const [rows] = await pool.query<Rows<{ fromGrade: User['grade']; toGrade: BatchTarget['toGrade']; users: number }>>(
        `SELECT t.from_grade AS fromGrade, t.to_grade AS toGrade, COUNT(*) AS users FROM (${targets.sql}) t
          GROUP BY t.from_grade, t.to_grade ORDER BY t.from_grade, t.to_grade`,
        targets.params,
      )
      return rows.map((row) => ({ from: row.fromGrade, to: row.toGrade, users: Number(row.users) }))
    },

    /** Chunks not DONE yet, and how long until the earliest live lease expires (DB clock). */
    async openChunks(runId: number): Promise<{ open: number; nextExpiryMicros: number | null }> {
      const [rows] = await pool.query<RowDataPacket[]>(
        `SELECT COUNT(*) AS open, MIN(TIMESTAMPDIFF(MICROSECOND, NOW(6), lease_until)) AS next_expiry
         FROM step_execution_log WHERE run_id = ? AND step = ? AND status <> 'DONE'`,
        [runId, gradeStep],
      )
      const row = rows[0]
      return { open: Number(row?.open ?? 0), nextExpiryMicros: row?.next_expiry == null ? null : Number(row.next_expiry) }
    },

    /** Before the plan's first statement: the APIs' p99 that a relative pacing budget is measured against. */
    async setPacingBaseline(runId: number, me: string, baselineUs: number | null): Promise<void> {
      await pool.query("UPDATE batch_runs SET pacing_baseline_us = ? WHERE id = ? AND status = 'PLANNING' AND planner = ?", [
        baselineUs,
        runId,
        uuidToBytes(me),
      ])
    },

    /**
     * What pacing needs of the run: chunks not DONE, time since the publish (DB clock; 0 while
     * planning), the APIs' p99 when planning began, the server's Threads_running.
     */
    async pacingProgress(runId: number): Promise<{ openChunks: number; runElapsedMs: number; baselineP99Ms: number | null; threadsRunning: number }> {
      const [rows] = await pool.query<RowDataPacket[]>(
        `SELECT (SELECT COUNT(*) FROM step_execution_log WHERE run_id = r.id AND step = ? AND status <> 'DONE') AS open,
                TIMESTAMPDIFF(MICROSECOND, r.published_at, NOW(6)) AS elapsed, r.pacing_baseline_us AS baseline,
                (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'THREADS_RUNNING') AS threads
         FROM batch_runs r WHERE r.id = ?`,
        [gradeStep, runId],
      )
      const row = rows[0]
      return {
        openChunks: Number(row?.open ?? 0),
        runElapsedMs: Number(row?.elapsed ?? 0) / 1000,
        baselineP99Ms: row?.baseline == null ? null : Number(row.baseline) / 1000,
        threadsRunning: Number(row?.threads ?? 0),
      }
    },

    /** Step 6: COMPLETED once every chunk is DONE; totals summed from the chunk rows. */
    async complete(runId: number): Promise<boolean> {
      const [result] = await pool.query<ResultSetHeader>(
        `UPDATE batch_runs r
         JOIN (SELECT COALESCE(SUM(coupons_issued), 0) AS issued, COALESCE(SUM(coupons_revoked), 0) AS revoked,
                      COALESCE(SUM(redemptions_applied), 0) AS applied, SUM(status <> 'DONE') AS open
               FROM step_execution_log WHERE run_id = ? AND step = ?) s
         SET r.status = 'COMPLETED', r.finished_at = NOW(6),
             r.coupons_issued = s.issued, r.coupons_revoked = s.revoked, r.redemptions_applied = s.applied
         WHERE r.id = ? AND r.status = 'RUNNING' AND COALESCE(s.open, 0) = 0`,
        [runId, gradeStep, runId],
      )
      return result.affectedRows === 1
    },
  }
}

export type RunRepository = ReturnType<typeof createRunRepository>
