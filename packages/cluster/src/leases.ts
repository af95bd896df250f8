import { uuidToBytes, type Pool, type ResultSetHeader, type Rows, type StepExecution } from '@commerce/db'

/**
 * Chunk leases over `step_execution_log` (DESIGN §6.2 steps 4-5). Raw SQL: these run once per
 * chunk on the batch's hot path and every lease decision compares against the DB clock (NOW(6)).
 * The caller owns transactions: pass a PoolConnection to run inside one, or the Pool.
 */
export type Queryable = Pick<Pool, 'query'>

export interface ChunkKey {
  runId: number
  step: string
  chunkNo: number
}

export interface ChunkOwnership extends ChunkKey {
  owner: string
  epoch: number
}

const chunkWhere = 'run_id = ? AND step = ? AND chunk_no = ?'
const ownedWhere = `${chunkWhere} AND owner = ? AND epoch = ? AND status = 'CLAIMED'`
const claimableWhere = `(status = 'PENDING' OR (status = 'CLAIMED' AND lease_until < NOW(6)))`

const chunkParams = (key: ChunkKey) => [key.runId, key.step, key.chunkNo]
const ownedParams = (chunk: ChunkOwnership) => [...chunkParams(chunk), uuidToBytes(chunk.owner), chunk.epoch]

async function changedOne(conn: Queryable, sql: string, params: unknown[]): Promise<boolean> {
  const [result] = await conn.query<ResultSetHeader>(sql, params)
  return result.affectedRows === 1
}

/**
 * Claims a PENDING chunk, or one whose lease expired (its owner is presumed dead).
 * Returns the new epoch that fences this owner's commit, or null if someone else holds it.
 */
export async function claimChunk(conn: Queryable, claim: ChunkKey & { owner: string; leaseMs: number }): Promise<{ epoch: number } | null> {
  // LAST_INSERT_ID(expr) hands the new epoch back in the same round trip, race-free,
  // on both MySQL and MariaDB (neither has a portable UPDATE … RETURNING).
  const [result] = await conn.query<ResultSetHeader>(
    `UPDATE step_execution_log
     SET status = 'CLAIMED', owner = ?, epoch = LAST_INSERT_ID(epoch + 1),
         lease_until = NOW(6) + INTERVAL ? MICROSECOND, claim_count = claim_count + 1, started_at = NOW(6)
     WHERE ${chunkWhere} AND ${claimableWhere}`,
    [uuidToBytes(claim.owner), claim.leaseMs * 1000, ...chunkParams(claim)],
  )
  return result.affectedRows === 1 ? { epoch: result.insertId } : null
}

/** Extends the lease; false means the chunk was taken over (stop working on it). */
export function renewLease(conn: Queryable, lease: ChunkOwnership & { leaseMs: number }): Promise<boolean> {
  return changedOne(conn, `UPDATE step_execution_log SET lease_until = NOW(6) + INTERVAL ? MICROSECOND WHERE ${ownedWhere}`, [
    lease.leaseMs * 1000,
    ...ownedParams(lease),
  ])
}

/** What a chunk's commit wrote, recorded on its step_execution_log row. */
export interface ChunkCounts {
  itemCount: number
  writeCount: number
  couponsIssued?: number
  couponsRevoked?: number
  redemptionsApplied?: number
}

/**
 * Marks the chunk DONE inside the caller's processing transaction. False ⇒ another worker
 * claimed it since (higher epoch): the caller must roll back.
 */
export function fenceDone(conn: Queryable, done: ChunkOwnership & ChunkCounts): Promise<boolean> {
  return changedOne(
    conn,
    `UPDATE step_execution_log
     SET status = 'DONE', finished_at = NOW(6), item_count = ?, write_count = ?,
         coupons_issued = ?, coupons_revoked = ?, redemptions_applied = ?
     WHERE ${ownedWhere}`,
    [done.itemCount, done.writeCount, done.couponsIssued ?? 0, done.couponsRevoked ?? 0, done.redemptionsApplied ?? 0, ...ownedParams(done)],
  )
}

/** Hands the chunk back as PENDING (graceful shutdown). The epoch stays, so fencing still holds. */
export function releaseChunk(conn: Queryable, chunk: ChunkOwnership): Promise<boolean> {
  return changedOne(conn, `UPDATE step_execution_log SET status = 'PENDING', owner = NULL, lease_until = NULL WHERE ${ownedWhere}`, ownedParams(chunk))
}

/**
 * Chunk numbers claimable now: this rank's own chunks (`chunk_no % size = rank`) first,
 * then the others, so survivors steal the work of dead or slow members.
 */
export async function pickClaimable(conn: Queryable, pick: { runId: number; step: string; rank: number; size: number; limit: number }): Promise<number[]> {
  if (!(pick.size > 0 && pick.rank >= 0 && pick.rank < pick.size)) {
    throw new RangeError(`rank ${pick.rank} is outside a membership of ${pick.size}`)
  }
  const [rows] = await conn.query<Rows<Pick<StepExecution, 'chunkNo'>>>(
    `SELECT chunk_no AS chunkNo FROM step_execution_log
     WHERE run_id = ? AND step = ? AND ${claimableWhere}
     ORDER BY chunk_no % ? <> ?, chunk_no
     LIMIT ?`,
    [pick.runId, pick.step, pick.size, pick.rank, pick.limit],
  )
  return rows.map((row) => row.chunkNo)
}
