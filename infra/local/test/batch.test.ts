import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { auditBatch } from '@commerce/audit'
import { createPool, type RowDataPacket } from '@commerce/db'
import { defaultGradePolicy } from '@commerce/domain'
import { seedData } from '../src/seed-data.ts'
import { createTestDatabase } from '@commerce/db/testing'
import { startBatchWorker, type BatchWorkerProcess } from '../src/batch.ts'

// Real `batch-worker run` processes on a real MariaDB: the crash and scale-out cases that an
// in-process test cannot fake. The workers run through a test wrapper (support/held-chunk-worker.ts)
// whose chunks hold their transaction open before committing, so they are caught mid-chunk.
const period = '2026-10'
const script = 'infra/local/test/support/held-chunk-worker.ts'
/** A worker whose chunks (from its TEST_CHUNK_HOLD_FROM-th on) hold their written, uncommitted rows for `hold` ms, or until it is killed, before the commit. */
const worker = (index: number, url: string, hold: number | 'forever', extra: Record<string, string> = {}) =>
  startBatchWorker(index, { databaseUrl: url, period, script, env: { ...env, TEST_CHUNK_HOLD_MS: String(hold), ...extra } })

/** The first chunk `worker` holds before its commit (it says so on stdout); rejects if it exits first. */
const firstHeld = async (worker: BatchWorkerProcess) =>
  (JSON.parse(await worker.nextLine((line) => line.startsWith('{"holding"'))) as { holding: number }).holding

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
  // The victim holds its first chunk until it is killed; the survivor starts only then, so it
  // cannot finish the run first however slowly the victim boots.
  const victim = worker(0, url, 'forever')
  t.teardown(() => victim.child.kill('SIGKILL'))
  const held = await firstHeld(victim)
  const survivor = worker(1, url, 0)
  t.teardown(() => survivor.child.kill('SIGKILL'))
  victim.child.kill('SIGKILL')
  const killed = await victim.finished
  t.equal(killed.signal, 'SIGKILL', `killed while holding chunk ${held}, its rows written and not committed`)
  const finished = await survivor.finished
  t.equal(finished.code, 0, 'the survivor exits 0')
  t.equal(finished.report?.status, 'COMPLETED')
  const [[chunk]] = await pool.query<RowDataPacket[]>('SELECT status, epoch FROM step_execution_log WHERE chunk_no = ?', [held])
  t.match(chunk, { status: 'DONE' })
  t.ok(Number(chunk?.epoch) >= 2, 'the held chunk was claimed again')
  await audited(t, pool)
})

t.test('a worker started mid-run joins and the run completes exactly once', async (t) => {
  const { url, pool } = await seeded(t)
  const first = worker(0, url, 100)
  t.teardown(() => first.child.kill('SIGKILL'))
  for (;;) {
    const [[row]] = await pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM step_execution_log WHERE status = 'DONE'")
    if (Number(row?.n) > 0) break
    await sleep(10)
  }
  const second = worker(1, url, 100)
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
  // Each commits one chunk, then holds its next until it is killed (one chunk at a time, so the
  // first is DONE before the second is held): the run is half done when they die.
  const doomed = [0, 1].map((index) => worker(index, url, 'forever', { TEST_CHUNK_HOLD_FROM: '1', BATCH_CONCURRENCY: '1' }))
  t.teardown(() => {
    for (const worker of doomed) worker.child.kill('SIGKILL')
  })
  await Promise.all(doomed.map(firstHeld))
  const [[row]] = await pool.query<RowDataPacket[]>("SELECT SUM(status = 'DONE') AS done, SUM(status = 'CLAIMED') AS claimed FROM step_execution_log")
  t.ok(Number(row?.done) >= 2 && Number(row?.claimed) >= 2, 'both workers committed a chunk and hold another')
  for (const worker of doomed) worker.child.kill('SIGKILL')
  await Promise.all(doomed.map((worker) => worker.finished))
  const [[before]] = await pool.query<RowDataPacket[]>('SELECT status FROM batch_runs')
  t.equal(before?.status, 'RUNNING', 'the run was left half done')

  const restart = worker(2, url, 0)
  t.teardown(() => restart.child.kill('SIGKILL'))
  const result = await restart.finished
  t.equal(result.code, 0)
  t.equal(result.report?.status, 'COMPLETED')
  await audited(t, pool)
})

t.test('a line awaited from a worker that exits without printing it rejects (the test does not end unfinished)', async (t) => {
  const url = await createTestDatabase(t)
  const quitter = startBatchWorker(0, { databaseUrl: url, period: '2026-13' })
  const holding = (line: string) => line.startsWith('{"holding"')
  await t.rejects(quitter.nextLine(holding), /exited \(code 1\) before printing the awaited line/)
  await t.rejects(quitter.nextLine(holding), /exited/, 'and so does one awaited after it exited')
})

t.test('bad flags give a one-line error and exit 1', async (t) => {
  const url = await createTestDatabase(t)
  for (const args of [{ period: '2026-13' }, { period: '2999-01' }, { period: '2026-10', strategy: 'naive' }]) {
    const worker = startBatchWorker(0, { databaseUrl: url, ...args })
    const result = await worker.finished
    t.equal(result.code, 1, JSON.stringify(args))
  }
})
