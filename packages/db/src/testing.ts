import { randomBytes } from 'node:crypto'
import { databaseUrl, withDatabase } from './url.ts'
import { dropDatabase, migrateDatabase } from './migrate.ts'

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
