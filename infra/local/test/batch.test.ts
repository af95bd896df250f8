import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { auditBatch } from '@commerce/audit'
import { createPool, type RowDataPacket } from '@commerce/db'
import { defaultGradePolicy } from '@commerce/domain'
import { seedData } from '../src/seed-data.ts'
import { createTestDatabase } from '@commerce/db/testing'
import { startBatchWorker } from '../src/batch.ts'

// Real `batch-worker run` processes on a real MariaDB: the crash and scale-out cases that an
// in-process test cannot fake. The naive strategy keeps each chunk open long enough to be
// caught mid-chunk; pass/fail never depends on when exactly the kill lands.
const period = '2026-10'
const env = {
  BATCH_CHUNK_SIZE: '40',
  BATCH_LEASE_MS: '1000',
  HEARTBEAT_MS: '200',
  BATCH_POLL_MS: '50',
  BATCH_GUARD_REFRESH_MS: '50',
  BATCH_PUBLISH_DELAY_MS: '100',
  LOG_LEVEL: 'warn',
}

async function seeded(t: Test) {
  const url = await createTestDatabase(t)
  await seedData({ url, users: 1_500, orders: 30_000, period, seed: 7, reset: true })
  const pool = createPool({ url, role: 'api' })
  t.teardown(() => pool.end())
  return { url, pool }
}

async function audited(t: Test, pool: Parameters<typeof auditBatch>[0]) {
  const result = await auditBatch(pool, { period, policy: defaultGradePolicy })
  t.same(
    result.checks.filter((check) => !check.ok),
    [],
    'auditor passes',
  )
}

t.test('kill -9 of a worker mid-chunk: the survivor takes its chunk over after the lease and nothing doubles', async (t) => {
  const { url, pool } = await seeded(t)
  const victim = startBatchWorker(0, { databaseUrl: url, period, strategy: 'naive', env })
  const survivor = startBatchWorker(1, { databaseUrl: url, period, strategy: 'naive', env })
  t.teardown(() => {
    victim.child.kill('SIGKILL')
    survivor.child.kill('SIGKILL')
  })
  let held: number | undefined
  while (held === undefined) {
    const [rows] = await pool.query<RowDataPacket[]>(
      `SELECT s.chunk_no FROM step_execution_log s JOIN was_instances w ON w.id = s.owner
       WHERE w.pid = ? AND s.status = 'CLAIMED' AND EXISTS (SELECT 1 FROM grade_history h JOIN batch_targets b ON b.user_id = h.user_id AND b.run_id = s.run_id AND b.chunk_no = s.chunk_no)`,
      [victim.child.pid],
    )
    held = rows[0]?.chunk_no as number | undefined
    if (held === undefined) await sleep(10)
  }
  victim.child.kill('SIGKILL')
  const killed = await victim.finished
  t.equal(killed.signal, 'SIGKILL', `killed while holding chunk ${held} half done`)
  const finished = await survivor.finished
  t.equal(finished.code, 0, 'the survivor exits 0')
  t.equal(finished.report?.status, 'COMPLETED')
  const [[chunk]] = await pool.query<RowDataPacket[]>('SELECT status, epoch FROM step_execution_log WHERE chunk_no = ?', [held])
  t.match(chunk, { status: 'DONE' })
  t.ok(Number(chunk?.epoch) >= 2, 'the half-done chunk was claimed again')
  await audited(t, pool)
})

t.test('a worker started mid-run joins and the run completes exactly once', async (t) => {
  const { url, pool } = await seeded(t)
  const first = startBatchWorker(0, { databaseUrl: url, period, strategy: 'naive', env })
  t.teardown(() => first.child.kill('SIGKILL'))
  for (;;) {
    const [[row]] = await pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM step_execution_log WHERE status = 'DONE'")
    if (Number(row?.n) > 0) break
    await sleep(10)
  }
  const second = startBatchWorker(1, { databaseUrl: url, period, strategy: 'naive', env })
  t.teardown(() => second.child.kill('SIGKILL'))
  const results = await Promise.all([first.finished, second.finished])
  t.same(
    results.map((r) => r.code),
    [0, 0],
  )
  const [[run]] = await pool.query<RowDataPacket[]>('SELECT status, chunk_count FROM batch_runs')
  t.equal(run?.status, 'COMPLETED')
  t.equal(
    results.reduce((sum, r) => sum + (r.report?.chunksDone ?? 0), 0),
    run?.chunk_count,
    'every chunk committed once across both workers',
  )
  await audited(t, pool)
})

t.test('kill -9 of every worker mid-run, then a restart: the new worker finishes exactly once', async (t) => {
  const { url, pool } = await seeded(t)
  const doomed = [0, 1].map((index) => startBatchWorker(index, { databaseUrl: url, period, strategy: 'naive', env }))
  t.teardown(() => {
    for (const worker of doomed) worker.child.kill('SIGKILL')
  })
  for (;;) {
    const [[row]] = await pool.query<RowDataPacket[]>("SELECT SUM(status = 'DONE') AS done, SUM(status = 'CLAIMED') AS claimed FROM step_execution_log")
    if (Number(row?.done) > 0 && Number(row?.claimed) > 0) break
    await sleep(10)
  }
  for (const worker of doomed) worker.child.kill('SIGKILL')
  await Promise.all(doomed.map((worker) => worker.finished))
  const [[before]] = await pool.query<RowDataPacket[]>('SELECT status FROM batch_runs')
  t.equal(before?.status, 'RUNNING', 'the run was left half done')

  const restart = startBatchWorker(2, { databaseUrl: url, period, strategy: 'naive', env })
  t.teardown(() => restart.child.kill('SIGKILL'))
  const result = await restart.finished
  t.equal(result.code, 0)
  t.equal(result.report?.status, 'COMPLETED')
  await audited(t, pool)
})

t.test('bad flags give a one-line error and exit 1', async (t) => {
  const url = await createTestDatabase(t)
  for (const args of [{ period: '2026-13' }, { period: '2999-01' }, { period: '2026-10', strategy: 'fast' }]) {
    const worker = startBatchWorker(0, { databaseUrl: url, ...args })
    const result = await worker.finished
    t.equal(result.code, 1, JSON.stringify(args))
  }
})
