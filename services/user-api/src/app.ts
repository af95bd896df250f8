import { batchGuardPlugin, createServiceApp, type BatchGuardFactory } from '@commerce/kit'
import type { FastifyServerOptions } from 'fastify'
import type { Config } from './config.ts'
import userRoutes from './routes/users.ts'

export interface BuildAppOptions {
  config: Config
  logger?: FastifyServerOptions['logger']
  /** The batch guard over its view (default: the real one); the benchmark's unguarded baseline passes another. */
  createGuard?: BatchGuardFactory
}

/** Builds the user-api app without listening (tests use `inject`; server.ts listens). */
export async function buildApp({ config, logger, createGuard }: BuildAppOptions) {
  const app = await createServiceApp({ service: 'user-api', config, logger })
  await app.register(batchGuardPlugin, { config, createGuard })
  await app.register(userRoutes)
  return app
}
