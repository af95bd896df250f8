import fp from 'fastify-plugin'
import { createPool, type Pool } from '@commerce/db'
import type { BaseConfig } from '../config.ts'

declare module 'fastify' {
  interface FastifyInstance {
    pool: Pool
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
    app.addHook('onClose', () => pool.end())
  },
  { name: 'db' },
)
