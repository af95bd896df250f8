import t from 'tap'
import { createPool } from '@commerce/db'
import { createTestDatabase } from '@commerce/db/testing'
import { createBatchView } from '../src/batch-view.ts'
import { storeTargetSet } from '../src/target-set.ts'

t.test('the view knows who is in a RUNNING run until their chunk is DONE (a run planned before target sets: its rows)', async (t) => {
  const pool = createPool({ url: await createTestDatabase(t), role: 'api' })
  t.teardown(() => pool.end())
  const view = createBatchView({ pool, refreshMs: 20 })
  t.teardown(() => view.stop())
  await view.start()
  t.equal(view.inBatch(1), null, 'no run, nobody in batch')

  await pool.query("INSERT INTO batch_runs (id, job, period, strategy, status, chunk_size) VALUES (5, 'monthly-grade', '2026-10', 'bulk', 'RUNNING', 1)")
  await pool.query("INSERT INTO batch_targets (run_id, user_id, chunk_no, total, order_count, to_grade) VALUES (5, 1, 0, 1, 1, 'VIP'), (5, 2, 1, 1, 1, 'VIP')")
  await pool.query("INSERT INTO step_execution_log (run_id, step, chunk_no) VALUES (5, 'grade', 0), (5, 'grade', 1)")
  await view.refresh()
  t.same(view.inBatch(1), { runId: 5, period: '2026-10', chunkNo: 0 })
  t.same(view.inBatch(2), { runId: 5, period: '2026-10', chunkNo: 1 })
  t.equal(view.inBatch(3), null, 'a non-target is never in batch')

  await pool.query("UPDATE step_execution_log SET status = 'DONE' WHERE chunk_no = 0")
  await view.refresh()
  t.equal(view.inBatch(1), null, 'chunk DONE: user 1 is out')
  t.ok(view.inBatch(2))

  await pool.query("UPDATE batch_runs SET status = 'COMPLETED'")
  await view.refresh()
  t.equal(view.inBatch(2), null, 'run COMPLETED: nobody in batch')
  t.ok(view.ageMs() < 1_000)
})

t.test('a planned run is read from its compact target set, a few rows; chunk = rank / chunk size', async (t) => {
  const pool = createPool({ url: await createTestDatabase(t), role: 'api' })
  t.teardown(() => pool.end())
  const view = createBatchView({ pool, refreshMs: 20 })
  t.teardown(() => view.stop())
  await pool.query("INSERT INTO batch_runs (id, job, period, strategy, status, chunk_size) VALUES (7, 'monthly-grade', '2026-10', 'bulk', 'RUNNING', 2)")
  // No batch_targets rows at all: what the view knows comes from the set.
  await storeTargetSet(pool, 7, [10, 20, 30])
  await pool.query("INSERT INTO step_execution_log (run_id, step, chunk_no) VALUES (7, 'grade', 0), (7, 'grade', 1)")
  await view.refresh()
  t.same(
    [10, 20, 30, 15, 31].map((userId) => view.inBatch(userId)?.chunkNo ?? null),
    [0, 0, 1, null, null],
    'the first two targets in chunk 0, the third in chunk 1, others nowhere',
  )
  t.ok(view.targetBytes() > 0 && view.targetBytes() < 64, `${view.targetBytes()} bytes held`)
  await pool.query("UPDATE step_execution_log SET status = 'DONE' WHERE run_id = 7 AND chunk_no = 0")
  await view.refresh()
  t.same(view.inBatch(10), null, 'chunk 0 DONE: out')
  t.same(view.inBatch(30), { runId: 7, period: '2026-10', chunkNo: 1 })
})

t.test('an unreachable database keeps the last view and never throws from start', async (t) => {
  const pool = createPool({ url: 'mysql://app:app@127.0.0.1:1/nowhere', role: 'api' })
  t.teardown(() => pool.end())
  const view = createBatchView({ pool, refreshMs: 20, log: { warn: () => undefined } })
  t.teardown(() => view.stop())
  await view.start()
  t.equal(view.inBatch(1), null)
  t.equal(view.ageMs(), Number.POSITIVE_INFINITY)
})
