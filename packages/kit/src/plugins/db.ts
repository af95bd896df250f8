import fp from 'fastify-plugin'
import { createPool, databaseTopology, describeTopology, type Pool, type Rows } from '@commerce/db'
import type { BaseConfig } from '../config.ts'

declare module 'fastify' {
  interface FastifyInstance {
    pool: Pool
  }
}

/** This service's connections at its maximum scale, beside what the database server allows in all. */
async function connectionBudget(pool: Pool, config: Pick<BaseConfig, 'DB_POOL_SIZE' | 'DB_MAX_REPLICAS'>) {
  const [[row]] = await pool.query<Rows<{ maxConnections: number }>>('SELECT @@max_connections AS maxConnections')
  return {
    poolSize: config.DB_POOL_SIZE,
    maxReplicas: config.DB_MAX_REPLICAS,
    wanted: config.DB_POOL_SIZE * config.DB_MAX_REPLICAS,
    maxConnections: Number(row?.maxConnections),
  }
}

/** The API pool: bounded queue and short lock waits (DESIGN §6.5). Batch work uses its own pool. */
export default fp<{ config: BaseConfig }>(
  async (app, { config }) => {
    const pool = createPool({
      url: config.DATABASE_URL,
      role: 'api',
      connectionLimit: config.DB_POOL_SIZE,
      queueLimit: config.DB_QUEUE_LIMIT,
      lockWaitTimeoutSec: config.DB_LOCK_WAIT_TIMEOUT_S,
    })
    app.decorate('pool', pool)
    app.addHook('onReady', async () => {
      // Which database this replica found: one server, or a Galera node and its state (readiness refuses a node that is not Synced).
      const topology = await databaseTopology(pool).catch(() => undefined)
      if (topology) app.log.info({ topology }, describeTopology(topology))
      const budget = await connectionBudget(pool, config).catch(() => undefined)
      // A budget over the limit fails only when the replicas are there, as "Too many connections" under load.
      if (budget && budget.wanted > budget.maxConnections) {
        app.log.warn(budget, `connection budget: ${config.DB_MAX_REPLICAS} replicas × a pool of ${config.DB_POOL_SIZE} exceed the server's max_connections`)
      }
    })
    app.addHook('onClose', () => pool.end())
  },
  { name: 'db' },
)
