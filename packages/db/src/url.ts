/** Where the project-local MariaDB listens; `DATABASE_URL` overrides it everywhere. */
export const localDb = {
  host: '127.0.0.1',
  port: Number(process.env.LOCAL_DB_PORT ?? 3307),
  user: 'app',
  password: 'app',
  database: 'commerce',
} as const

export function databaseUrl(database: string = localDb.database): string {
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL
  return `mysql://${localDb.user}:${localDb.password}@${localDb.host}:${localDb.port}/${database}`
}

/** The same server as `url`, another database: tests use one database each. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

export function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''))
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`DATABASE_URL must name a database (letters, digits, _), got "${name}"`)
  return name
}
