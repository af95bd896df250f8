import { createServiceApp } from '@commerce/kit'
import type { FastifyServerOptions } from 'fastify'
import type { Config } from './config.ts'
import type { ApplicationWriterFactory } from './desk.ts'
import applicationsPlugin from './plugins/applications.ts'
import eventRoutes from './routes/events.ts'

export interface BuildAppOptions {
  config: Config
  logger?: FastifyServerOptions['logger']
  /** Replaces the group commit: a benchmark's baseline only (server.ts never passes one). */
  applicationWriter?: ApplicationWriterFactory
}

export type { Application } from './event-repository.ts'
export type { EventState } from './directory.ts'
export type { ApplicationWriter, ApplicationWriterFactory, WriteOutcome } from './desk.ts'
export { datetime6 } from './clock.ts'

/** Builds the event-apply app without listening (tests use `inject`; server.ts listens). */
export async function buildApp({ config, logger, applicationWriter }: BuildAppOptions) {
  const app = await createServiceApp({ service: 'event-apply', config, logger })
  await app.register(applicationsPlugin, { config, writer: applicationWriter })
  await app.register(eventRoutes)
  return app
}
