import type { Pool, PoolConnection } from 'mysql2/promise'

/**
 * Runs `work` in one transaction on a pooled connection: commits what it returns, rolls back
 * when it returns null (a fenced-out or lost race: nothing of it may stand) or throws.
 */
export async function inTransaction<T>(
  pool: Pool,
  work: (conn: PoolConnection) => Promise<T | null>,
  { isolation }: { isolation?: 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE' } = {},
): Promise<T | null> {
  const conn = await pool.getConnection()
  try {
    // For this transaction only: the pooled session keeps its role's level (pool.ts).
    if (isolation) await conn.query(`SET TRANSACTION ISOLATION LEVEL ${isolation}`)
    await conn.beginTransaction()
    const result = await work(conn)
    if (result === null) await conn.rollback()
    else await conn.commit()
    return result
  } catch (error) {
    await conn.rollback().catch(() => undefined)
    throw error
  } finally {
    conn.release()
  }
}
