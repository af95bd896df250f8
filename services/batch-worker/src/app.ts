import { createServiceApp } from '@commerce/kit'
import type { FastifyServerOptions } from 'fastify'
import type { Clock } from './clock.ts'
import type { Config } from './config.ts'
import type { ChunkStrategies } from './job/chunks.ts'
import consoleFeedPlugin from './plugins/console-feed.ts'
import eventSchedulerPlugin from './plugins/event-schedule.ts'
import redemptionGaugesPlugin from './plugins/redemption-gauges.ts'
import runGaugesPlugin from './plugins/run-gauges.ts'
import runnerPlugin from './plugins/runner.ts'
import consoleRoutes from './routes/console.ts'
import eventRoutes from './routes/event-draws.ts'
import runRoutes from './routes/runs.ts'

export interface BuildAppOptions {
  config: Config
  logger?: FastifyServerOptions['logger']
  /** The calendar's "now", and when a console stream's token has expired (default: the database clock); tests pick their instant. */
  clock?: Clock
  /** The chunk strategies (default: the service's own, bulk); a benchmark adds its baselines. */
  strategies?: ChunkStrategies
}

/** The batch-worker daemon without listening (tests use `inject`; server.ts listens). */
export async function buildApp({ config, logger, clock, strategies }: BuildAppOptions) {
  const app = await createServiceApp({ service: 'batch-worker', config, logger })
  await app.register(runnerPlugin, { config, clock, strategies })
  await app.register(runRoutes, { heartbeatMs: config.HEARTBEAT_MS })
  await app.register(eventSchedulerPlugin, { config, clock })
  await app.register(eventRoutes)
  await app.register(runGaugesPlugin, { config })
  await app.register(redemptionGaugesPlugin)
  await app.register(consoleFeedPlugin, { heartbeatMs: config.HEARTBEAT_MS, refreshMs: config.CONSOLE_REFRESH_MS })
  await app.register(consoleRoutes, { heartbeatMs: config.HEARTBEAT_MS, clock })
  return app
}
