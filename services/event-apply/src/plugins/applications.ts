import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { Gauge } from 'prom-client'
import type { Config } from '../config.ts'
import { createApplicationDesk, type ApplicationWriterFactory } from '../desk.ts'
import { createEventDirectory } from '../directory.ts'
import { createEventRepository } from '../event-repository.ts'
import { createReceipts } from '../receipts.ts'
import { createClientLimits } from '../client-limits.ts'

export interface EventApplyOptions {
  config: Config
  /** Replaces the group commit: benchmark baselines only (the server never passes one). */
  writer?: ApplicationWriterFactory
}

function createEventApply(app: FastifyInstance, { config, writer }: EventApplyOptions) {
  const repo = createEventRepository(app.pool)
  const directory = createEventDirectory({ repo, refreshMs: config.EVENT_REFRESH_MS, log: app.log, wallClock: app.clock.nowMs })
  new Gauge({
    name: 'event_apply_directory_entries',
    help: 'Events this replica keeps in memory (known) and unknown ids it remembers as missing (bounded)',
    labelNames: ['kind'] as const,
    registers: [app.metrics.registry],
    collect() {
      for (const [kind, n] of Object.entries(directory.entries())) this.set({ kind }, n)
    },
  })
  const receipts = createReceipts(config.AUTH_SECRET)
  const desk = createApplicationDesk({
    repo,
    directory,
    config,
    replicaId: app.membership.id,
    registry: app.metrics.registry,
    clock: app.clock,
    writer: writer?.({ pool: app.pool }),
    receipts,
  })
  const accountLimits = createClientLimits({
    perSecond: config.EVENT_ACCOUNT_RATE_PER_S,
    burst: config.EVENT_ACCOUNT_BURST,
    maxClients: config.EVENT_ACCOUNT_LIMIT_ENTRIES,
  })
  return { repo, directory, desk, receipts, accountLimits }
}

declare module 'fastify' {
  interface FastifyInstance {
    eventApply: ReturnType<typeof createEventApply>
  }
}

/** Events, their in-memory directory and the apply desk; buffered applications are written before the pool closes. */
export default fp<EventApplyOptions>(
  async (app, options) => {
    const eventApply = createEventApply(app, options)
    app.decorate('eventApply', eventApply)
    app.addHook('onReady', () => eventApply.directory.start())
    // preClose: the pool is still open, and the server has stopped taking new requests.
    app.addHook('preClose', async () => {
      await eventApply.directory.stop()
      await eventApply.desk.drain()
    })
  },
  { name: 'event-apply', dependencies: ['db', 'membership', 'metrics', 'clock'] },
)
