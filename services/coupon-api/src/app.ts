import { batchGuardPlugin, createServiceApp, type BatchGuardFactory } from '@commerce/kit'
import type { FastifyServerOptions } from 'fastify'
import type { Config } from './config.ts'
import couponsPlugin from './plugins/coupons.ts'
import sweeperPlugin from './plugins/sweeper.ts'
import couponRoutes from './routes/coupons.ts'

export interface BuildAppOptions {
  config: Config
  logger?: FastifyServerOptions['logger']
  /** The batch guard over its view (default: the real one); the benchmark's unguarded baseline passes another. */
  createGuard?: BatchGuardFactory
}

/** Builds the coupon-api app without listening (tests use `inject`; server.ts listens). */
export async function buildApp({ config, logger, createGuard }: BuildAppOptions) {
  const app = await createServiceApp({ service: 'coupon-api', config, logger })
  await app.register(batchGuardPlugin, { config, createGuard })
  await app.register(couponsPlugin)
  await app.register(sweeperPlugin, { config })
  await app.register(couponRoutes, { config })
  return app
}
