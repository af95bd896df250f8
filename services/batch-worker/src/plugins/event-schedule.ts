import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import { Counter, type Registry } from 'prom-client'
import { createPollingLoop } from '@commerce/cluster'
import { drawWinners, ensureScheduledEvents, eventsDueForDraw, type Pool } from '@commerce/db'
import { dailyEvents } from '@commerce/domain'
import { databaseClock, type Clock } from '../clock.ts'
import type { Config } from '../config.ts'

/**
 * The daemon's event loop: keeps today's and tomorrow's daily events created (a unique schedule
 * key makes every daemon's attempt after the first a no-op) and draws each event whose
 * announcement is due. Draws lock the event row, so several daemons draw each event once.
 * Separate from the batch loop, so a long monthly run never delays an announcement.
 */
export function createEventScheduler({
  config,
  pool,
  registry,
  log,
  clock = databaseClock(pool),
}: {
  config: Config
  pool: Pool
  registry: Registry
  log: FastifyBaseLogger
  clock?: Clock
}) {
  const draws = new Counter({ name: 'batch_event_draws_total', help: 'Event draws by outcome', labelNames: ['outcome'] as const, registers: [registry] })

  async function draw(eventId: number) {
    const result = await drawWinners(pool, eventId)
    draws.inc({ outcome: result.outcome })
    if (result.outcome === 'DRAWN') log.info({ eventId, winners: result.winners }, 'event drawn')
    return result
  }

  async function tick(): Promise<void> {
    const now = await clock()
    if (config.EVENT_SCHEDULE_ENABLED) {
      const schedule = {
        time: config.EVENT_DAILY_TIME,
        timeZone: config.BUSINESS_TIME_ZONE,
        durationMinutes: config.EVENT_DAILY_MINUTES,
        winnerQuota: config.EVENT_DAILY_QUOTA,
      }
      const created = await ensureScheduledEvents(pool, dailyEvents(now, schedule))
      if (created > 0) log.info({ created }, 'daily events created')
    }
    for (const eventId of await eventsDueForDraw(pool, now)) await draw(eventId)
  }

  const loop = createPollingLoop({
    intervalMs: config.EVENT_POLL_MS,
    tick,
    onError: (error) => log.warn({ err: error }, 'event scheduling failed; retrying next poll'),
  })
  return { draw, tick, start: loop.start, stop: loop.stop }
}

declare module 'fastify' {
  interface FastifyInstance {
    eventScheduler: ReturnType<typeof createEventScheduler>
  }
}

/** Daily events and their draws, on the API pool (a few statements a poll). */
export default fp<{ config: Config; clock?: Clock }>(
  async (app, { config, clock }) => {
    const scheduler = createEventScheduler({ config, pool: app.pool, registry: app.metrics.registry, log: app.log, clock })
    app.decorate('eventScheduler', scheduler)
    app.addHook('onReady', async () => {
      void scheduler.start()
    })
    app.addHook('preClose', () => scheduler.stop())
  },
  { name: 'event-scheduler', dependencies: ['db', 'metrics'] },
)
