import { createServiceApp } from '@commerce/kit'
import type { FastifyServerOptions } from 'fastify'
import type { Config } from './config.ts'
import eventSchedulerPlugin from './plugins/events.ts'
import runnerPlugin from './plugins/runner.ts'
import eventRoutes from './routes/events.ts'
import runRoutes from './routes/runs.ts'

export interface BuildAppOptions {
  config: Config
  logger?: FastifyServerOptions['logger']
}

/** The batch-worker daemon without listening (tests use `inject`; server.ts listens). */
export async function buildApp({ config, logger }: BuildAppOptions) {
  const app = await createServiceApp({ service: 'batch-worker', config, logger })
  await app.register(runnerPlugin, { config })
  await app.register(runRoutes)
  await app.register(eventSchedulerPlugin, { config })
  await app.register(eventRoutes)
  return app
}
