import t, { type Test } from 'tap'
import { v7 as uuidv7 } from 'uuid'
import { createPool, uuidFromBytes, type Pool, type RowDataPacket } from '@commerce/db'
import { createTestDatabase } from '@commerce/db/testing'
import { claimChunk, fenceDone, pickClaimable, releaseChunk, renewLease } from '../src/leases.ts'

const runId = 7
const step = 'grade'
const leaseMs = 60_000

async function setup(t: Test, chunkCount: number): Promise<Pool> {
  const pool = createPool({ url: await createTestDatabase(t), role: 'batch' })
  t.teardown(() => pool.end())
  const rows = Array.from({ length: chunkCount }, (_, chunkNo) => [runId, step, chunkNo])
  await pool.query('INSERT INTO step_execution_log (run_id, step, chunk_no) VALUES ?', [rows])
  return pool
}

/** Lets a lease lapse without waiting for it: the lease is judged on the DB clock alone. */
async function expireLease(pool: Pool, chunkNo: number): Promise<void> {
  await pool.query('UPDATE step_execution_log SET lease_until = NOW(6) - INTERVAL 1 SECOND WHERE run_id = ? AND step = ? AND chunk_no = ?', [
    runId,
    step,
    chunkNo,
  ])
}

interface ChunkRow {
  status: string
  owner: string | null
  epoch: number
  claim_count: number
  item_count: number
  write_count: number
  lease_until: Date | null
  finished_at: Date | null
}

async function readChunk(pool: Pool, chunkNo: number): Promise<ChunkRow> {
  const [rows] = await pool.query<RowDataPacket[]>(
    'SELECT status, owner, epoch, claim_count, item_count, write_count, lease_until, finished_at FROM step_execution_log WHERE run_id = ? AND step = ? AND chunk_no = ?',
    [runId, step, chunkNo],
  )
  const row = rows[0]!
  return { ...(row as ChunkRow), owner: row.owner ? uuidFromBytes(row.owner as Buffer) : null }
}

t.test('a live lease fences out other claimers; an expired one is taken over with a higher epoch', async (t) => {
  const pool = await setup(t, 1)
  const first = uuidv7()
  const second = uuidv7()
  const chunk = { runId, step, chunkNo: 0 }

  t.same(await claimChunk(pool, { ...chunk, owner: first, leaseMs }), { epoch: 1 })
  t.equal(await claimChunk(pool, { ...chunk, owner: second, leaseMs }), null, 'live lease is not claimable')

  await expireLease(pool, 0)
  t.same(await claimChunk(pool, { ...chunk, owner: second, leaseMs }), { epoch: 2 }, 'expired lease is claimable again')

  // The first owner wakes up and tries to commit its chunk: the fence refuses, it rolls back.
  const stale = await pool.getConnection()
  t.teardown(() => stale.release())
  await stale.beginTransaction()
  t.equal(await fenceDone(stale, { ...chunk, owner: first, epoch: 1, itemCount: 5, writeCount: 5 }), false)
  await stale.rollback()

  const current = await pool.getConnection()
  t.teardown(() => current.release())
  await current.beginTransaction()
  t.equal(await fenceDone(current, { ...chunk, owner: second, epoch: 2, itemCount: 10, writeCount: 12 }), true)
  await current.commit()

  t.match(await readChunk(pool, 0), { status: 'DONE', owner: second, epoch: 2, claim_count: 2, item_count: 10, write_count: 12, finished_at: Date })
  t.equal(await claimChunk(pool, { ...chunk, owner: first, leaseMs }), null, 'a DONE chunk is never claimed')
  await expireLease(pool, 0)
  t.equal(await claimChunk(pool, { ...chunk, owner: first, leaseMs }), null, 'even with a lapsed lease')
})

t.test('only the current owner and epoch can renew', async (t) => {
  const pool = await setup(t, 1)
  const owner = uuidv7()
  const chunk = { runId, step, chunkNo: 0 }
  const { epoch } = (await claimChunk(pool, { ...chunk, owner, leaseMs: 1_000 }))!
  const before = (await readChunk(pool, 0)).lease_until!

  t.equal(await renewLease(pool, { ...chunk, owner, epoch, leaseMs }), true)
  t.ok((await readChunk(pool, 0)).lease_until! > before, 'lease extended')
  t.equal(await renewLease(pool, { ...chunk, owner, epoch: epoch + 1, leaseMs }), false, 'wrong epoch')
  t.equal(await renewLease(pool, { ...chunk, owner: uuidv7(), epoch, leaseMs }), false, 'wrong owner')
})

t.test('a released chunk goes back to PENDING and keeps its epoch for fencing', async (t) => {
  const pool = await setup(t, 1)
  const leaving = uuidv7()
  const next = uuidv7()
  const chunk = { runId, step, chunkNo: 0 }
  const { epoch } = (await claimChunk(pool, { ...chunk, owner: leaving, leaseMs }))!

  t.equal(await releaseChunk(pool, { ...chunk, owner: leaving, epoch }), true)
  t.match(await readChunk(pool, 0), { status: 'PENDING', owner: null, epoch: 1, lease_until: null })
  t.equal(await releaseChunk(pool, { ...chunk, owner: leaving, epoch }), false, 'releasing twice changes nothing')

  t.same(await claimChunk(pool, { ...chunk, owner: next, leaseMs }), { epoch: 2 })
  t.equal(await fenceDone(pool, { ...chunk, owner: leaving, epoch, itemCount: 0, writeCount: 0 }), false)
  t.equal(await fenceDone(pool, { ...chunk, owner: next, epoch: 2, itemCount: 0, writeCount: 0 }), true)
})

t.test('pickClaimable offers own-rank chunks first, then the rest to steal', async (t) => {
  const pool = await setup(t, 7)
  const pick = { runId, step, rank: 1, size: 3, limit: 10 }
  t.same(await pickClaimable(pool, pick), [1, 4, 0, 2, 3, 5, 6])

  const other = uuidv7()
  await claimChunk(pool, { runId, step, chunkNo: 1, owner: other, leaseMs })
  const done = (await claimChunk(pool, { runId, step, chunkNo: 2, owner: other, leaseMs }))!
  await fenceDone(pool, { runId, step, chunkNo: 2, owner: other, epoch: done.epoch, itemCount: 0, writeCount: 0 })
  t.same(await pickClaimable(pool, pick), [4, 0, 3, 5, 6], 'claimed and DONE chunks are skipped')

  await expireLease(pool, 1)
  t.same(await pickClaimable(pool, pick), [1, 4, 0, 3, 5, 6], 'an expired lease is claimable again')
  t.same(await pickClaimable(pool, { ...pick, limit: 2 }), [1, 4])
  t.same(await pickClaimable(pool, { ...pick, step: 'other' }), [], 'scoped to the step')
  await t.rejects(pickClaimable(pool, { ...pick, rank: -1 }), RangeError, 'an unregistered member has no rank to pick with')
})
