import fp from 'fastify-plugin'
import { Type, type Static } from 'typebox'
import { createBatchView, type InBatch } from '@commerce/cluster'
import type { ConfigCheck } from '../config.ts'

/** The guard's settings, for the config of each service that registers it. */
export const batchGuardConfigProperties = {
  /** The API guard's refresh of RUNNING batch runs (DESIGN §6.3); batch publish waits 2 × 250 ms. */
  BATCH_GUARD_REFRESH_MS: Type.Integer({ minimum: 10, maximum: 250, default: 200 }),
  /**
   * A view not refreshed for this long is not trusted: a failed refresh keeps the last view, and
   * nothing it says about the batch may still hold. Redemptions are deferred (202) meanwhile.
   * At least 4 × BATCH_GUARD_REFRESH_MS, so one or two slow refreshes never defer anything.
   */
  BATCH_GUARD_MAX_AGE_MS: Type.Integer({ minimum: 40, maximum: 60_000, default: 1_000 }),
}
const batchGuardConfigSchema = Type.Object(batchGuardConfigProperties)
type BatchGuardConfig = Static<typeof batchGuardConfigSchema>

export const batchGuardConfigCheck: ConfigCheck<BatchGuardConfig> = ({ BATCH_GUARD_REFRESH_MS: refresh, BATCH_GUARD_MAX_AGE_MS: maxAge }) =>
  maxAge < 4 * refresh ? `BATCH_GUARD_MAX_AGE_MS: must be ≥ 4 × BATCH_GUARD_REFRESH_MS (${4 * refresh})` : undefined

/** The guard every API asks before touching a user's rows: a memory lookup, no DB I/O. */
export function createBatchGuard(view: ReturnType<typeof createBatchView>, maxAgeMs: number) {
  return {
    view,
    inBatch: (userId: number): InBatch | null => view.inBatch(userId),
    /** The view is too old to say who is not in a batch (its refreshes fail): write nothing on its word. */
    stale: (): boolean => view.ageMs() > maxAgeMs,
  }
}

export type BatchGuard = ReturnType<typeof createBatchGuard>
/** How an app builds its guard over the view: `createBatchGuard`, unless a benchmark or a test passes another. */
export type BatchGuardFactory = typeof createBatchGuard

declare module 'fastify' {
  interface FastifyInstance {
    batchGuard: BatchGuard
  }
}

/** Keeps the view of RUNNING batch runs fresh while the app runs (DESIGN §6.3). */
export default fp<{ config: BatchGuardConfig; createGuard?: BatchGuardFactory }>(
  async (app, { config, createGuard = createBatchGuard }) => {
    const view = createBatchView({ pool: app.pool, refreshMs: config.BATCH_GUARD_REFRESH_MS, log: app.log })
    app.decorate('batchGuard', createGuard(view, config.BATCH_GUARD_MAX_AGE_MS))
    app.addHook('onReady', async () => {
      await view.start()
    })
    app.addHook('preClose', () => view.stop())
  },
  { name: 'batch-guard', dependencies: ['db'] },
)
