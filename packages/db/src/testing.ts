import { randomBytes } from 'node:crypto'
import { databaseUrl, withDatabase } from './url.ts'
import { dropDatabase, migrateDatabase } from './migrate.ts'
import type { Pool, RowDataPacket } from './index.ts'

interface Teardown {
  teardown(fn: () => unknown): void
}

/**
 * A fresh, migrated database for one test, dropped in its teardown: tests never share rows.
 * Uses the server of DATABASE_URL or the project-local MariaDB (started by `npm test`).
 */
export async function createTestDatabase(t: Teardown): Promise<string> {
  const url = withDatabase(databaseUrl(), `test_${randomBytes(6).toString('hex')}`)
  await migrateDatabase(url)
  t.teardown(() => dropDatabase(url))
  return url
}

/** The tables of the pool's database, sorted: a test compares them before and after hostile input. */
export async function tableNames(pool: Pool): Promise<string[]> {
  const [rows] = await pool.query<RowDataPacket[]>(
    'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name',
  )
  return rows.map((row) => row.name as string)
}
