import fp from 'fastify-plugin'
import { createBatchView, type InBatch } from '@commerce/cluster'
import type { BaseConfig } from '../config.ts'

/** The guard every API asks before touching a user's rows: a memory lookup, no DB I/O. */
export function createBatchGuard(view: ReturnType<typeof createBatchView>, enabled: boolean, maxAgeMs: number) {
  return {
    view,
    inBatch: (userId: number): InBatch | null => (enabled ? view.inBatch(userId) : null),
    /** The view is too old to say who is not in a batch (its refreshes fail): write nothing on its word. */
    stale: (): boolean => enabled && view.ageMs() > maxAgeMs,
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    batchGuard: ReturnType<typeof createBatchGuard>
  }
}

/** Keeps the view of RUNNING batch runs fresh while the app runs (DESIGN §6.3). */
export default fp<{ config: BaseConfig }>(
  async (app, { config }) => {
    const view = createBatchView({ pool: app.pool, refreshMs: config.BATCH_GUARD_REFRESH_MS, log: app.log })
    app.decorate('batchGuard', createBatchGuard(view, config.BATCH_GUARD_ENABLED, config.BATCH_GUARD_MAX_AGE_MS))
    app.addHook('onReady', async () => {
      await view.start()
    })
    app.addHook('preClose', async () => {
      view.stop()
    })
  },
  { name: 'batch-guard', dependencies: ['db'] },
)
