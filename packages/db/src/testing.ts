import { randomBytes } from 'node:crypto'
import { createConnection } from 'mysql2/promise'
import { databaseUrl, withDatabase } from './url.ts'
import { dropDatabase, migrateDatabase } from './migrate.ts'
import { catchUp } from './topology.ts'
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

/**
 * The nodes of the Galera cluster the tests run beside (`GALERA_URLS`, comma-separated server
 * URLs; `npm test` starts that cluster and sets it).
 */
export function galeraNodeUrls(): string[] {
  const urls = process.env.GALERA_URLS?.split(',').filter(Boolean) ?? []
  if (urls.length < 2) {
    throw new Error('this test needs a Galera cluster: run it through `npm test` (which starts one), or set GALERA_URLS to its nodes')
  }
  return urls
}

/**
 * A fresh, migrated database on the Galera cluster, one URL per node, dropped in the teardown.
 * Returns once every node has applied the schema (a causal read on each), so a test may use any node at once.
 */
export async function createGaleraTestDatabase(t: Teardown): Promise<string[]> {
  const name = `test_${randomBytes(6).toString('hex')}`
  const urls = galeraNodeUrls().map((url) => withDatabase(url, name))
  await migrateDatabase(urls[0]!)
  t.teardown(() => dropDatabase(urls[0]!))
  for (const url of urls) {
    const connection = await createConnection({ uri: url, connectTimeout: 5_000 })
    try {
      await catchUp(connection, '__drizzle_migrations')
    } finally {
      await connection.end()
    }
  }
  return urls
}

/** Returns once `pool`'s node has applied every write the cluster committed before this call (a causal read). */
export const caughtUp = (pool: Pool): Promise<void> => catchUp(pool, '__drizzle_migrations')

/** The tables of the pool's database, sorted: a test compares them before and after hostile input. */
export async function tableNames(pool: Pool): Promise<string[]> {
  const [rows] = await pool.query<RowDataPacket[]>(
    'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name',
  )
  return rows.map((row) => row.name as string)
}
