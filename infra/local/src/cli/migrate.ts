import { databaseUrl, migrateDatabase } from '@commerce/db'
import { ensureDatabaseServer } from '../database.ts'
import { fail } from './fail.ts'
import { answerHelp } from './help.ts'

// `npm run db:migrate`: the migrate job locally, against DATABASE_URL or the project-local MariaDB
// (started if needed). Deployments run packages/db/src/cli/migrate.ts, which requires DATABASE_URL.
answerHelp(`
usage: npm run db:migrate
Applies the committed migrations to DATABASE_URL, or to the project-local MariaDB (started if needed).
No flags.`)
try {
  await ensureDatabaseServer()
  const url = databaseUrl()
  await migrateDatabase(url)
  console.log(`migrations applied to ${new URL(url).host}${new URL(url).pathname}`)
} catch (error) {
  fail(error)
}
