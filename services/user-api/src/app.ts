import { batchGuardPlugin, createServiceApp } from '@commerce/kit'
import type { FastifyServerOptions } from 'fastify'
import type { Config } from './config.ts'
import userRoutes from './routes/users.ts'

export interface BuildAppOptions {
  config: Config
  logger?: FastifyServerOptions['logger']
}

/** Builds the user-api app without listening (tests use `inject`; server.ts listens). */
export async function buildApp({ config, logger }: BuildAppOptions) {
  const app = await createServiceApp({ service: 'user-api', config, logger })
  await app.register(batchGuardPlugin, { config })
  await app.register(userRoutes)
  return app
}
