import { createPool as createMysqlPool, type Pool, type PoolOptions } from 'mysql2/promise'
import { drizzle } from 'drizzle-orm/mysql2'
import * as schema from './schema/index.ts'

/**
 * API and batch work get separate pools so a long batch can never starve live requests.
 * API sessions fail fast: a small queue and a short lock wait, so overload becomes a quick
 * 503 instead of a pile of waiting requests. Batch sessions may wait longer for locks.
 */
export const poolRoles = {
  api: { connectionLimit: 10, queueLimit: 500, lockWaitTimeoutSec: 2, isolation: 'READ COMMITTED', idleSessionTimeoutSec: 28_800 },
  // READ COMMITTED for both: transactions lock only the rows they touch (no gap locks), so
  // parallel chunks and concurrent redemptions never deadlock on neighbouring index keys. A 20 s idle limit makes the server
  // roll back a frozen worker's open transaction and free its locks well before the 30 s
  // lock wait of whoever took its chunk over (its late commit is refused by fencing anyway).
  batch: { connectionLimit: 4, queueLimit: 0, lockWaitTimeoutSec: 30, isolation: 'READ COMMITTED', idleSessionTimeoutSec: 20 },
} as const
export type PoolRole = keyof typeof poolRoles

export interface PoolSettings {
  url: string
  role: PoolRole
  connectionLimit?: number
  /** Requests allowed to wait for a connection; beyond it getConnection fails at once. 0 = unbounded. */
  queueLimit?: number
  lockWaitTimeoutSec?: number
}

export function createPool(settings: PoolSettings): Pool {
  const defaults = poolRoles[settings.role]
  const lockWaitTimeoutSec = settings.lockWaitTimeoutSec ?? defaults.lockWaitTimeoutSec
  const options: PoolOptions = {
    uri: settings.url,
    connectionLimit: settings.connectionLimit ?? defaults.connectionLimit,
    queueLimit: settings.queueLimit ?? defaults.queueLimit,
    waitForConnections: true,
    enableKeepAlive: true,
    keepAliveInitialDelay: 10_000,
    maxIdle: settings.connectionLimit ?? defaults.connectionLimit,
    // Below every role's server-side wait_timeout, so the pool retires idle connections first.
    idleTimeout: 15_000,
    connectTimeout: 5_000,
    // Everything is UTC in the database and in the driver; liveness uses the DB clock.
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: true,
    multipleStatements: false,
  }
  const pool = createMysqlPool(options)
  const { isolation, idleSessionTimeoutSec } = poolRoles[settings.role]
  // Runs before any other statement on a new physical connection (commands are queued in order).
  pool.on('connection', (connection) => {
    connection.query(
      `SET SESSION time_zone = '+00:00', SESSION innodb_lock_wait_timeout = ${Number(lockWaitTimeoutSec)}, SESSION wait_timeout = ${Number(idleSessionTimeoutSec)}`,
    )
    connection.query(`SET SESSION TRANSACTION ISOLATION LEVEL ${isolation}`)
  })
  return pool
}

export function createDb(pool: Pool) {
  return drizzle({ client: pool, schema, mode: 'default', casing: 'snake_case' })
}
export type Db = ReturnType<typeof createDb>

/** True when mysql2 refused a connection because the bounded wait queue is full. */
export function isPoolSaturated(error: unknown): boolean {
  return error instanceof Error && error.message === 'Queue limit reached.'
}
