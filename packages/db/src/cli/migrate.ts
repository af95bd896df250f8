import { migrateDatabase } from '../migrate.ts'

// The migrate job of a deployment (Compose, Kubernetes): the committed migrations applied to
// DATABASE_URL, which it requires. `npm run db:migrate` is the local variant (infra/local), which
// starts the project-local MariaDB when DATABASE_URL is unset.
const url = process.env.DATABASE_URL
if (!url) {
  console.error('error: DATABASE_URL is required (mysql://user:password@host:port/database)')
  process.exit(1)
}
try {
  await migrateDatabase(url)
  const { host, pathname } = new URL(url)
  console.log(`migrations applied to ${host}${pathname}`)
} catch (error) {
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
}
