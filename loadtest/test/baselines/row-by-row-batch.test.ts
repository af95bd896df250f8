import t, { type Test } from 'tap'
import { auditBatch, formatAudit } from '@commerce/audit'
import type { Pool, RowDataPacket } from '@commerce/db'
import { batchOutcome as outcome, giveOldCoupon, member, pausing, period, settings, testDatabase } from '@commerce/batch-worker/testing'
import { runWorker, type WorkerReport } from '@commerce/batch-worker/worker'
import { naiveStrategy, rowByRowStrategies } from '../../src/baselines/row-by-row-batch.ts'

async function audited(t: Test, pool: Pool): Promise<void> {
  const result = await auditBatch(pool, { period, policy: settings.policy })
  t.same(
    result.checks.filter((check) => !check.ok),
    [],
    `auditor passes (${formatAudit(result).split('\n').length} checks)`,
  )
}

async function worker(t: Test, url: string, extra: Partial<Parameters<typeof runWorker>[0]>): Promise<WorkerReport> {
  const { pool, membership } = await member(t, url)
  return runWorker({ pool, membership, period, strategy: 'bulk', strategies: rowByRowStrategies(), settings, ...extra })
}

t.test('naive, batched and bulk write the same rows', async (t) => {
  const results: string[] = []
  for (const strategy of ['naive', 'batched', 'bulk']) {
    const { url, pool } = await testDatabase(t, 60)
    await giveOldCoupon(pool, 9)
    const report = await worker(t, url, { strategy })
    t.match(report, { status: 'COMPLETED', strategy }, strategy)
    await audited(t, pool)
    results.push(await outcome(pool))
  }
  t.equal(results[0], results[1], 'naive = batched')
  t.equal(results[1], results[2], 'batched = bulk')
})

t.test('naive: a restart after every worker stopped mid-run does only what was not DONE', async (t) => {
  const { url, pool } = await testDatabase(t, 100)
  const stop = new AbortController()
  let commits = 0
  const stopAtThird = pausing(
    {
      beforeCommit: async () => {
        if (++commits === 3) stop.abort()
      },
    },
    naiveStrategy,
  )
  const stopped = await worker(t, url, {
    strategy: 'naive',
    strategies: { naive: stopAtThird },
    signal: stop.signal,
    settings: { ...settings, concurrency: 1 },
  })
  t.match(stopped, { status: 'RUNNING', chunksDone: 3 }, 'the worker finished the chunk in hand, then stopped')
  const survivor = await worker(t, url, { strategy: 'naive' })
  t.match(survivor, { status: 'COMPLETED', strategy: 'naive' })
  const [[run]] = await pool.query<RowDataPacket[]>('SELECT chunk_count FROM batch_runs')
  t.equal(survivor.chunksDone, Number(run?.chunk_count) - 3, 'the restart did only what was not DONE')
  await audited(t, pool)
})
