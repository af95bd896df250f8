import { createConnection } from 'mysql2/promise'
import { databaseUrl, withDatabase } from '@commerce/db'
import { startLocalDb, type LocalDbStatus } from './mariadb.ts'

/**
 * With DATABASE_URL set, checks that server answers; otherwise starts the project-local
 * MariaDB if it is not running yet. Returns the local server's status when it was used.
 */
export async function ensureDatabaseServer(): Promise<LocalDbStatus | undefined> {
  if (!process.env.DATABASE_URL) return startLocalDb()
  const url = databaseUrl()
  try {
    const connection = await createConnection({ uri: withDatabase(url, ''), connectTimeout: 5_000 })
    await connection.end()
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    throw new Error(`cannot reach DATABASE_URL (${new URL(url).host}): ${reason}; check the URL or unset it to use the local MariaDB`)
  }
  return undefined
}
