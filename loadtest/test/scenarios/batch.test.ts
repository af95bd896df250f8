import t from 'tap'
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
  const [[grades]] = await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM grade_history')
  t.equal(Number(grades?.n), 60, "one grade row per user: the first run's rows were emptied")
})
