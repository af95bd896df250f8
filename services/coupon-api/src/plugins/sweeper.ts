import fp from 'fastify-plugin'
import { Counter } from 'prom-client'
import type { FastifyInstance } from 'fastify'
import { createPollingLoop } from '@commerce/cluster'
import { applyPendingRedemptions, inTransaction } from '@commerce/db'
import type { Config } from '../config.ts'

const usersPerSweep = 100

/**
 * Applies deferred redemptions whose user is no longer in a batch chunk (DESIGN §6.4): requests
 * recorded after the chunk committed, or deferred on a lock timeout. Live coupon-api replicas
 * split the users by rank (user_id % N = rank), so each request has one sweeper.
 */
export function createSweeper(app: FastifyInstance, config: Config) {
  const applied = new Counter({
    name: 'coupon_redemptions_swept_total',
    help: 'Deferred redemptions applied by the sweeper, by outcome',
    labelNames: ['outcome'] as const,
    registers: [app.metrics.registry],
  })
  async function sweep(): Promise<number> {
    const { rank, size } = app.membership.view()
    if (rank < 0) return 0
    const users = await app.coupons.pendingUsers(rank, size, usersPerSweep)
    if (users.length === 0) return 0
    // The check that decides and the apply in one transaction (lockUsersOutsideBatch says why).
    const result = (await inTransaction(app.pool, async (conn) =>
      applyPendingRedemptions(conn, await app.coupons.lockUsersOutsideBatch(conn, users), { skipLocked: true }),
    ))!
    applied.inc({ outcome: 'redeemed' }, result.redeemed)
    applied.inc({ outcome: 'rejected' }, result.rejected)
    return result.redeemed + result.rejected
  }

  const loop = createPollingLoop({
    intervalMs: config.COUPON_SWEEP_MS,
    firstTick: 'after-interval',
    tick: sweep,
    onError: (error) => app.log.warn({ err: error }, 'redemption sweep failed; retrying'),
  })

  return { sweep, start: loop.start, stop: loop.stop }
}

declare module 'fastify' {
  interface FastifyInstance {
    sweeper: ReturnType<typeof createSweeper>
  }
}

export default fp<{ config: Config }>(
  async (app, { config }) => {
    const sweeper = createSweeper(app, config)
    app.decorate('sweeper', sweeper)
    app.addHook('onReady', () => sweeper.start())
    app.addHook('preClose', () => sweeper.stop())
  },
  { name: 'sweeper', dependencies: ['coupons', 'membership', 'metrics'] },
)
