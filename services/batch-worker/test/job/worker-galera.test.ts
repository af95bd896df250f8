import t from 'tap'
import { auditBatch, formatAudit } from '@commerce/audit'
import { createPool, type RowDataPacket } from '@commerce/db'
import { caughtUp, createGaleraTestDatabase } from '@commerce/db/testing'
import { createChunkEventRepository } from '../../src/job/chunk-events.ts'
import { runWorker, type WorkerReport } from '../../src/job/worker.ts'
import { member, pausing, period, seedUsers, settings } from '../../src/testing.ts'

// Fencing on two nodes of a Galera cluster. On one server a late owner's fenced DONE finds another
// epoch and changes 0 rows. Here the late owner's fence can match on its own node, before the
// takeover has reached it: the cluster then refuses its transaction (1213), and that must end the
// same way, a fencing refusal, with nothing of it committed.

t.test('a worker whose chunk is taken over on another node after its fence matched is refused at COMMIT, as fenced out', async (t) => {
  const [url1, url2] = (await createGaleraTestDatabase(t)) as [string, string]
  const seeder = createPool({ url: url1, role: 'batch' })
  t.teardown(() => seeder.end())
  await seedUsers(seeder, 100)
  const { pool: observer } = await member(t, url2)
  await caughtUp(observer)

  let rescuer: Promise<WorkerReport> | undefined
  const sleeperMember = await member(t, url1)
  const sleeper = await runWorker({
    ...sleeperMember,
    period,
    strategy: 'bulk',
    settings: { ...settings, concurrency: 1 },
    strategies: {
      bulk: pausing({
        afterFence: async (chunk) => {
          if (rescuer) return
          // The sleeper's DONE is written on node 1, uncommitted. Through node 2: the lease runs
          // out, another worker takes the chunk over and finishes the run.
          await observer.query('UPDATE step_execution_log SET lease_until = NOW(6) - INTERVAL 1 SECOND WHERE run_id = ? AND chunk_no = ?', [
            chunk.runId,
            chunk.chunkNo,
          ])
          const rescuerMember = await member(t, url2)
          rescuer = runWorker({ ...rescuerMember, period, strategy: 'bulk', settings })
          await rescuer
          // Node 1 has applied all of it before the sleeper goes on, so what it meets is decided.
          await caughtUp(sleeperMember.pool)
        },
      }),
    },
  })
  const rescued = await rescuer!
  t.equal(rescued.status, 'COMPLETED')
  t.equal(sleeper.fencingRejections, 1, 'the sleeper’s commit was refused, and counted as a fencing refusal, not a failure')

  await caughtUp(seeder)
  const [[run]] = await seeder.query<RowDataPacket[]>('SELECT chunk_count FROM batch_runs')
  t.equal(sleeper.chunksDone + rescued.chunksDone, run?.chunk_count, 'every chunk committed exactly once')
  const events = await createChunkEventRepository(seeder).list(sleeper.runId, 1_000)
  t.match(
    events.filter((event) => event.kind === 'REFUSED'),
    [{ worker: sleeper.workerId, epoch: 1 }],
    'the console shows the refusal',
  )
  const audit = await auditBatch(seeder, { period, policy: settings.policy })
  t.same(
    audit.checks.filter((check) => !check.ok),
    [],
    'auditor passes',
  )
  t.equal(audit.ok, true, `${formatAudit(audit).split('\n').length} checks`)
})
