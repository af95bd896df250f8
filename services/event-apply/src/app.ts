import { createServiceApp } from '@commerce/kit'
import type { FastifyServerOptions } from 'fastify'
import type { Config } from './config.ts'

export interface BuildAppOptions {
  config: Config
  logger?: FastifyServerOptions['logger']
}

/** Builds the event-apply app without listening (tests use `inject`; server.ts listens). */
export async function buildApp({ config, logger }: BuildAppOptions) {
  const app = await createServiceApp({ service: 'event-apply', config, logger })
  return app
}
