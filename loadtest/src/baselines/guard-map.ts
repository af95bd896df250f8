import type { BatchTarget, Pool, Rows } from '@commerce/db'

/**
 * The guard's load before compact target sets, for the guard-load benchmark: every replica read
 * each target row of a RUNNING run into a user → chunk map.
 */
export async function loadTargetMap(pool: Pool, runId: number): Promise<Map<number, number>> {
  const [rows] = await pool.query<Rows<Pick<BatchTarget, 'userId' | 'chunkNo'>>>(
    'SELECT user_id AS userId, chunk_no AS chunkNo FROM batch_targets WHERE run_id = ?',
    [runId],
  )
  return new Map(rows.map((row) => [row.userId, row.chunkNo]))
}
