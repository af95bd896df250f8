import { createServiceApp } from '@commerce/kit'
import type { FastifyServerOptions } from 'fastify'
import type { Config } from './config.ts'
import applicationsPlugin from './plugins/applications.ts'
import eventRoutes from './routes/events.ts'

export interface BuildAppOptions {
  config: Config
  logger?: FastifyServerOptions['logger']
}

/** Builds the event-apply app without listening (tests use `inject`; server.ts listens). */
export async function buildApp({ config, logger }: BuildAppOptions) {
  const app = await createServiceApp({ service: 'event-apply', config, logger })
  await app.register(applicationsPlugin, { config })
  await app.register(eventRoutes)
  return app
}
