import t, { type Test } from 'tap'
import { createPool, type Pool, type ResultSetHeader, type RowDataPacket } from '@commerce/db'
import { createTestDatabase } from '@commerce/db/testing'
import { readDeferredRedemptions, readOpenRun } from '../../src/job/backlog.ts'
import { giveOldCoupon, requestRedemption } from '../../src/testing.ts'

async function database(t: Test): Promise<Pool> {
  const pool = createPool({ url: await createTestDatabase(t), role: 'api', connectionLimit: 2 })
  t.teardown(() => pool.end())
  return pool
}

/** A run requested `agoSeconds` before the database's NOW(6): ages are on that clock, not this process's. */
async function run(pool: Pool, period: string, status: string, agoSeconds: number, chunks: number | null = null): Promise<number> {
  const [result] = await pool.query<ResultSetHeader>(
    `INSERT INTO batch_runs (job, period, strategy, status, chunk_count, requested_at)
     VALUES ('monthly-grade', ?, 'bulk', ?, ?, NOW(6) - INTERVAL ? MICROSECOND)`,
    [period, status, chunks, Math.round(agoSeconds * 1e6)],
  )
  return result.insertId
}

async function chunkRows(pool: Pool, runId: number, statuses: string[]): Promise<void> {
  await pool.query('INSERT INTO step_execution_log (run_id, step, chunk_no, status) VALUES ?', [
    statuses.map((status, chunkNo) => [runId, 'grade', chunkNo, status]),
  ])
}

t.test('readOpenRun: none, then the oldest open run, its age on the database clock and its DONE chunks', async (t) => {
  const pool = await database(t)
  t.equal(await readOpenRun(pool), null, 'no run at all')
  const completed = await run(pool, '2026-07', 'COMPLETED', 7_200, 2)
  await chunkRows(pool, completed, ['DONE', 'DONE'])
  await run(pool, '2026-08', 'FAILED', 3_600)
  t.equal(await readOpenRun(pool), null, 'COMPLETED and FAILED runs are not open')

  const requested = await run(pool, '2026-10', 'REQUESTED', 30)
  t.match(await readOpenRun(pool), { id: requested, period: '2026-10', status: 'REQUESTED', chunks: null, chunksDone: 0 }, 'not planned: no chunk count yet')
  const running = await run(pool, '2026-09', 'RUNNING', 90, 4)
  // Another step's DONE rows and this step's other statuses do not count.
  await chunkRows(pool, running, ['DONE', 'CLAIMED', 'DONE', 'PENDING'])
  await pool.query("INSERT INTO step_execution_log (run_id, step, chunk_no, status) VALUES (?, 'other', 9, 'DONE')", [running])
  const open = await readOpenRun(pool)
  t.match(open, { id: running, period: '2026-09', status: 'RUNNING', chunks: 4, chunksDone: 2 }, 'the oldest by requested_at, not by id')
  t.ok(open && open.ageSeconds >= 90 && open.ageSeconds < 95, `age since requested_at on NOW(6): ${open?.ageSeconds}`)
  t.equal(typeof open?.ageSeconds, 'number')
  t.equal(typeof open?.chunksDone, 'number')

  await pool.query("UPDATE batch_runs SET status = 'COMPLETED' WHERE id = ?", [running])
  t.match(await readOpenRun(pool), { id: requested, status: 'REQUESTED' }, 'once it completes, the next open one')
})

t.test('readDeferredRedemptions: PENDING count, the oldest PENDING age, and what was resolved in the last minute', async (t) => {
  const pool = await database(t)
  t.strictSame(await readDeferredRedemptions(pool), { pending: 0, oldestPendingSeconds: null, appliedLastMinute: 0 }, 'an empty table')

  const coupon = await giveOldCoupon(pool, 1)
  const ids = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((key) => requestRedemption(pool, 1, coupon, `backlog-${key}`)))
  const set = (id: Buffer, sql: string) => pool.query(`UPDATE coupon_redemptions SET ${sql} WHERE id = ?`, [id])
  // Two PENDING, the older requested 120 s ago on the database clock.
  await set(ids[0]!, 'requested_at = NOW(6) - INTERVAL 120 SECOND')
  await set(ids[1]!, 'requested_at = NOW(6) - INTERVAL 10 SECOND')
  // Resolved (either way) 5 s ago: counted; 61 s ago: not.
  await set(ids[2]!, "status = 'REDEEMED', requested_at = NOW(6) - INTERVAL 300 SECOND, resolved_at = NOW(6) - INTERVAL 5 SECOND")
  await set(ids[3]!, "status = 'REJECTED', reason = 'COUPON_EXPIRED', resolved_at = NOW(6) - INTERVAL 5 SECOND")
  await set(ids[4]!, "status = 'REDEEMED', requested_at = NOW(6) - INTERVAL 900 SECOND, resolved_at = NOW(6) - INTERVAL 61 SECOND")

  const backlog = await readDeferredRedemptions(pool)
  t.match(backlog, { pending: 2, appliedLastMinute: 2 })
  t.ok(
    backlog.oldestPendingSeconds !== null && backlog.oldestPendingSeconds >= 120 && backlog.oldestPendingSeconds < 125,
    `the oldest PENDING's age, not a resolved one's: ${backlog.oldestPendingSeconds}`,
  )
})

t.test('readDeferredRedemptions: the last-minute count is a range of idx_redemptions_resolved_at, not a scan', async (t) => {
  const pool = await database(t)
  const [plan] = await pool.query<RowDataPacket[]>('EXPLAIN SELECT COUNT(*) FROM coupon_redemptions WHERE resolved_at > NOW(6) - INTERVAL 60 SECOND')
  t.match(plan[0], { key: 'idx_redemptions_resolved_at', type: 'range' })
})
