import { hostname } from 'node:os'
import fp from 'fastify-plugin'
import { createMembership, type Membership } from '@commerce/cluster'
import type { BaseConfig } from '../config.ts'

declare module 'fastify' {
  interface FastifyInstance {
    membership: Membership
  }
}

/**
 * Registers this replica in `was_instances` when the app is ready, reporting its recent latency
 * every LOAD_REPORT_MS; leaves first on close.
 */
export default fp<{ config: BaseConfig; service: string }>(
  async (app, { config, service }) => {
    const membership = createMembership({
      pool: app.pool,
      service,
      heartbeatMs: config.HEARTBEAT_MS,
      host: hostname(),
      pid: process.pid,
      load: { summary: () => app.latencyWindow.summary(), everyMs: config.LOAD_REPORT_MS },
      log: app.log,
    })
    app.decorate('membership', membership)
    app.addHook('onReady', async () => {
      await membership.start()
    })
    // preClose runs before onClose, so the row is deleted while the pool is still open.
    app.addHook('preClose', () => membership.stop())
  },
  { name: 'membership', dependencies: ['db', 'latency-window'] },
)
