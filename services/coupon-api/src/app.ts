import { createServiceApp } from '@commerce/kit'
import type { FastifyServerOptions } from 'fastify'
import type { Config } from './config.ts'

export interface BuildAppOptions {
  config: Config
  logger?: FastifyServerOptions['logger']
}

/** Builds the coupon-api app without listening (tests use `inject`; server.ts listens). */
export async function buildApp({ config, logger }: BuildAppOptions) {
  const app = await createServiceApp({ service: 'coupon-api', config, logger })
  return app
}
