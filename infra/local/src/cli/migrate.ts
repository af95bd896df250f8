import { databaseUrl, migrateDatabase } from '@commerce/db'
import { ensureDatabaseServer } from '../database.ts'
import { fail } from './fail.ts'

// `npm run db:migrate`: the migrate job, against DATABASE_URL or the local MariaDB.
try {
  await ensureDatabaseServer()
  const url = databaseUrl()
  await migrateDatabase(url)
  console.log(`migrations applied to ${new URL(url).host}${new URL(url).pathname}`)
} catch (error) {
  fail(error)
}
