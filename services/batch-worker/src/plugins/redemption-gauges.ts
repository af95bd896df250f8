import fp from 'fastify-plugin'
import { readDeferredRedemptions } from '../job/backlog.ts'
import { readOncePerScrape, scrapedGauges } from './scrape-read.ts'

/**
 * The deferred redemptions (202s) still waiting, as the database has them: the batch applies an
 * in-batch user's in its chunk and coupon-api's sweeper the rest, so a growing age means one of
 * them is not doing it. Read on the API pool at each scrape.
 */
export default fp(
  async (app) => {
    const read = readOncePerScrape(() => readDeferredRedemptions(app.pool), { registry: app.metrics.registry, log: app.log, gauges: 'redemptions' })
    scrapedGauges(app.metrics.registry, read, [
      { name: 'coupon_redemptions_pending', help: 'Redemptions accepted with 202 and not resolved yet (PENDING)', value: (backlog) => backlog.pending },
      {
        name: 'coupon_redemptions_oldest_pending_seconds',
        // 0 with none pending: compared with a bound, an empty backlog is never late.
        help: 'Seconds the oldest PENDING redemption has waited since it was requested, on the database clock; 0 when none is pending',
        value: (backlog) => backlog.oldestPendingSeconds ?? 0,
      },
      {
        name: 'coupon_redemptions_resolved_last_minute',
        help: 'Redemptions resolved (applied or rejected) in the last 60 s, by any replica',
        value: (backlog) => backlog.appliedLastMinute,
      },
    ])
  },
  { name: 'redemption-gauges', dependencies: ['db', 'metrics'] },
)
