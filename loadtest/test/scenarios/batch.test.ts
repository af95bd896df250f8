import t from 'tap'
import { auditBatch } from '@commerce/audit'
import { defaultGradePolicy } from '@commerce/domain'
import { runWorker } from '@commerce/batch-worker/worker'
import { member, period, settings, testDatabase } from '@commerce/batch-worker/testing'
import type { RowDataPacket } from '@commerce/db'
import { resetBatchState } from '../../src/scenarios/batch.ts'

t.test('resetBatchState: the batch runs again on the same data, as every repeated bench row does', async (t) => {
  const { url, pool } = await testDatabase(t, 60)
  const { membership, pool: workerPool } = await member(t, url)
  const first = await runWorker({ pool: workerPool, membership, period, strategy: 'bulk', settings })
  await resetBatchState(pool)
  // Run ids start again from 1: whatever is keyed by run id must be gone too, or the plan collides with the old run's.
  const again = await runWorker({ pool: workerPool, membership, period, strategy: 'bulk', settings })
  t.equal(again.runId, first.runId, 'the same run id again')
  t.equal(again.chunksDone, first.chunksDone, 'the whole run again')
  const [[rows]] = await pool.query<RowDataPacket[]>(
    'SELECT (SELECT COUNT(*) FROM grade_history) AS history, (SELECT COUNT(*) FROM batch_targets WHERE run_id = ?) AS targets',
    [again.runId],
  )
  t.ok(Number(rows?.targets) > 0, 'the run had targets')
  t.equal(Number(rows?.history), Number(rows?.targets), 'one grade row per target, not two')
  // A history row marks a target done: had the first run's rows stayed, the second would have graded nobody.
  const audit = await auditBatch(pool, { period, policy: defaultGradePolicy })
  t.same(
    audit.checks.filter((check) => !check.ok),
    [],
    'the second run graded every target again (the auditor recomputes from the orders)',
  )
})
