import t from 'tap'
import { createPool, type Pool, type RowDataPacket } from '@commerce/db'
import { runWorker } from '../../src/job/worker.ts'
import { member, period, settings, testDatabase } from '../../src/testing.ts'

/** Returns once a statement of this database LIKE `pattern` is running (here: waiting on our lock). */
async function running(pool: Pool, pattern: string): Promise<void> {
  for (;;) {
    const [rows] = await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = DATABASE() AND info LIKE ?', [
      pattern,
    ])
    if (Number(rows[0]?.n) > 0) return
  }
}

t.test('the publish delay counts from the committed RUNNING, not from the start of the statement that wrote it', { timeout: 60_000 }, async (t) => {
  const { url, pool } = await testDatabase(t, 40)
  await pool.query("INSERT INTO batch_runs (job, period, strategy, status) VALUES ('monthly-grade', ?, 'bulk', 'REQUESTED')", [period])
  // The plan's transaction held twice: at its chunk INSERT by an uncommitted chunk row (so the
  // run is PLANNING and nothing else holds it), then at its publishing UPDATE by a shared lock on
  // the run row. NOW(6) in that UPDATE is the time the statement began, long before its commit.
  const [chunkRow, runRow] = [await pool.getConnection(), await pool.getConnection()]
  t.teardown(() => {
    chunkRow.release()
    runRow.release()
  })
  await chunkRow.query('BEGIN')
  await chunkRow.query("INSERT INTO step_execution_log (run_id, step, chunk_no) SELECT id, 'grade', 0 FROM batch_runs")
  const { membership } = await member(t, url)
  const workerPool = createPool({ url, role: 'batch', connectionLimit: 4 })
  t.teardown(() => workerPool.end())
  const report = runWorker({ pool: workerPool, membership, period, strategy: 'bulk', settings })
  await running(pool, 'INSERT INTO step_execution_log%')
  await runRow.query('BEGIN')
  await runRow.query('SELECT id FROM batch_runs LOCK IN SHARE MODE')
  await chunkRow.query('ROLLBACK')
  await running(pool, 'UPDATE batch_runs%SET status = IF(%')
  // As text: a Date would drop the microseconds.
  const [now] = await runRow.query<RowDataPacket[]>('SELECT CAST(NOW(6) AS CHAR) AS released')
  const released = now[0]?.released as string
  await runRow.query('COMMIT')
  t.match(await report, { status: 'COMPLETED', planned: true })

  const [[run]] = (await pool.query<RowDataPacket[]>(
    `SELECT r.published_at >= ? AS after_commit, TIMESTAMPDIFF(MICROSECOND, ?, MIN(s.started_at)) AS waited_us
     FROM batch_runs r JOIN step_execution_log s ON s.run_id = r.id GROUP BY r.id`,
    [released, released],
  )) as [RowDataPacket[], unknown]
  t.equal(Number(run?.after_commit), 1, 'published_at is at or after the commit (the plan could commit only once we released the run row)')
  t.ok(
    Number(run?.waited_us) >= settings.publishDelayMs * 1000,
    `no chunk was claimed before the publish delay had passed since the commit (${run?.waited_us} µs)`,
  )
})
