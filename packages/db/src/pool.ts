import { createPool as createMysqlPool, type Pool, type PoolOptions } from 'mysql2/promise'

/**
 * API and batch work get separate pools so a long batch can never starve live requests.
 * API sessions fail fast: a small queue and a short lock wait, so overload becomes a quick
 * 503 instead of a pile of waiting requests. Batch sessions may wait longer for locks.
 */
export const poolRoles = {
  // A request's transaction lasts milliseconds: one left idle 5 s belongs to a client that is gone,
  // and the server rolls it back, freeing its row locks. An idle session (no locks) may stay 10 min.
  api: {
    connectionLimit: 10,
    queueLimit: 500,
    lockWaitTimeoutSec: 2,
    isolation: 'READ COMMITTED',
    idleSessionTimeoutSec: 600,
    idleTransactionTimeoutSec: 5,
    statementTimeoutMs: 5_000,
  },
  // READ COMMITTED for both: transactions lock only the rows they touch (no gap locks), so
  // parallel chunks and concurrent redemptions never deadlock on neighbouring index keys. The
  // idle limit makes the server roll back a frozen or cut-off worker's open transaction and free
  // its locks for whoever took its chunk over (its late commit is refused by fencing anyway);
  // batch-worker sets it to its lease (batchPoolSettings), 20 s is the bound for anyone else.
  // A statement may wait 30 s for a lock and the plan reads the whole month: 60 s bounds both.
  batch: {
    connectionLimit: 4,
    queueLimit: 0,
    lockWaitTimeoutSec: 30,
    isolation: 'READ COMMITTED',
    idleSessionTimeoutSec: 20,
    idleTransactionTimeoutSec: 20,
    statementTimeoutMs: 60_000,
  },
  // Operator tools (the demo, benchmarks, the batch CLI): the auditor and the floor read whole
  // months of orders, so their statements get 10 minutes; still bounded.
  tool: {
    connectionLimit: 4,
    queueLimit: 0,
    lockWaitTimeoutSec: 30,
    isolation: 'READ COMMITTED',
    idleSessionTimeoutSec: 600,
    idleTransactionTimeoutSec: 60,
    statementTimeoutMs: 600_000,
  },
} as const
export type PoolRole = keyof typeof poolRoles

export interface PoolSettings {
  url: string
  role: PoolRole
  connectionLimit?: number
  /** Requests allowed to wait for a connection; beyond it getConnection fails at once. 0 = unbounded. */
  queueLimit?: number
  lockWaitTimeoutSec?: number
  /** Longest a statement may run, on the client (the connection is destroyed) and on the server. */
  statementTimeoutMs?: number
  /** Longest a session may sit idle inside a transaction before the server rolls it back. */
  idleTransactionTimeoutSec?: number
}

/** The callback shape of mysql2's core query/execute (the promise API sits on top of it). */
type Callback = (error: (Error & { code?: string }) | null, ...rest: unknown[]) => void
interface CoreConnection {
  query(sql: unknown, values?: unknown, cb?: unknown): unknown
  execute(sql: unknown, values?: unknown, cb?: unknown): unknown
  destroy(): void
}

const timedOut = (error: unknown) => (error as { code?: string } | null)?.code === 'PROTOCOL_SEQUENCE_TIMEOUT'

/**
 * Every statement on `conn` gets a client-side timeout unless it names its own. A statement that
 * times out destroys its connection: its late result must never be read as the next statement's,
 * and a host lost mid-transaction must not keep a pooled session (and its row locks) alive.
 */
function boundStatements(conn: CoreConnection, timeoutMs: number): void {
  const destroyOnTimeout = (cb: unknown): unknown =>
    typeof cb !== 'function'
      ? cb
      : (error: Error | null, ...rest: unknown[]) => {
          if (timedOut(error)) conn.destroy()
          ;(cb as Callback)(error, ...rest)
        }
  for (const method of ['query', 'execute'] as const) {
    const original = conn[method].bind(conn)
    conn[method] = (sql: unknown, values?: unknown, cb?: unknown) => {
      // The pool hands over a ready command object (its callback already attached).
      if (sql !== null && typeof sql === 'object' && 'onResult' in sql) {
        const command = sql as { timeout?: number; onResult?: unknown }
        command.timeout ??= timeoutMs
        command.onResult = destroyOnTimeout(command.onResult)
        return original(command, values, cb)
      }
      const options = typeof sql === 'string' ? { sql } : { ...(sql as object) }
      const withTimeout = { timeout: timeoutMs, ...options }
      return typeof values === 'function' ? original(withTimeout, destroyOnTimeout(values)) : original(withTimeout, values, destroyOnTimeout(cb))
    }
  }
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
  const { isolation, idleSessionTimeoutSec } = defaults
  const idleTransactionTimeoutSec = settings.idleTransactionTimeoutSec ?? defaults.idleTransactionTimeoutSec
  const statementTimeoutMs = settings.statementTimeoutMs ?? defaults.statementTimeoutMs
  // Runs before any other statement on a new physical connection (commands are queued in order).
  pool.on('connection', (connection) => {
    boundStatements(connection as unknown as CoreConnection, statementTimeoutMs)
    // The server bounds the same things on its side: a statement (max_statement_time, seconds),
    // an idle session, and a transaction left open by a client that went away without a word.
    connection.query(
      `SET SESSION time_zone = '+00:00', SESSION innodb_lock_wait_timeout = ${Number(lockWaitTimeoutSec)}, SESSION wait_timeout = ${Number(idleSessionTimeoutSec)},
           SESSION max_statement_time = ${Number(statementTimeoutMs) / 1000}, SESSION idle_transaction_timeout = ${Number(idleTransactionTimeoutSec)}`,
    )
    connection.query(`SET SESSION TRANSACTION ISOLATION LEVEL ${isolation}`)
  })
  return pool
}

/** True when mysql2 refused a connection because the bounded wait queue is full. */
export function isPoolSaturated(error: unknown): boolean {
  return error instanceof Error && error.message === 'Queue limit reached.'
}
