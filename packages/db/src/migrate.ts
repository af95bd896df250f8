import { fileURLToPath } from 'node:url'
import { createConnection } from 'mysql2/promise'
import { drizzle } from 'drizzle-orm/mysql2'
import { migrate } from 'drizzle-orm/mysql2/migrator'
import { databaseName, withDatabase } from './url.ts'

export const migrationsFolder = fileURLToPath(new URL('../migrations', import.meta.url))

/**
 * The migrate job: creates the database if it is missing, then applies the committed
 * drizzle-kit migrations. Never run as a side effect of a service starting.
 */
export async function migrateDatabase(url: string): Promise<void> {
  const name = databaseName(url)
  const admin = await createConnection({ uri: withDatabase(url, ''), connectTimeout: 5_000 })
  try {
    await admin.query(`CREATE DATABASE IF NOT EXISTS \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  } finally {
    await admin.end()
  }
  const connection = await createConnection({ uri: url, connectTimeout: 5_000, timezone: 'Z' })
  try {
    await migrate(drizzle({ client: connection }), { migrationsFolder })
  } finally {
    await connection.end()
  }
}

export async function dropDatabase(url: string): Promise<void> {
  const name = databaseName(url)
  const admin = await createConnection({ uri: withDatabase(url, ''), connectTimeout: 5_000 })
  try {
    await admin.query(`DROP DATABASE IF EXISTS \`${name}\``)
  } finally {
    await admin.end()
  }
}
