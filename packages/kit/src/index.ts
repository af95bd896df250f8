export { createServiceApp, requestIdPattern, serviceNames, type ServiceName, type ServiceApp, type ServiceAppOptions } from './app.ts'
export {
  baseConfigSchema,
  baseConfigProperties,
  serviceConfig,
  loadConfig,
  ConfigError,
  weakSecretReason,
  exampleAuthSecret,
  type BaseConfig,
} from './config.ts'
export { AppError, defineErrors, kitErrors } from './errors.ts'
export { errorResponses, errorSchema, idempotencyKeySchema, instantSchema, periodSchema, uuidSchema } from './schemas.ts'
export { startServer, boot } from './server.ts'
export { signToken, createTokenVerifier, type Principal, type Role } from './tokens.ts'
export { createAuth } from './plugins/auth.ts'
export { createMetrics } from './plugins/metrics.ts'
export { createDbClock, measureOffset, clockConfigProperties, type DbClock, type ClockSample } from './plugins/clock.ts'
export {
  default as batchGuardPlugin,
  batchGuardConfigCheck,
  batchGuardConfigProperties,
  createBatchGuard,
  type BatchGuard,
  type BatchGuardFactory,
} from './plugins/batch-guard.ts'
// Exported so their `declare module 'fastify'` (app.pool, app.membership) reaches the services'
// compiled types too: a declaration file only carries the modules its exports mention.
export { default as dbPlugin } from './plugins/db.ts'
export { default as membershipPlugin } from './plugins/membership.ts'
export { default as latencyWindowPlugin, createLatencyWindow, type LatencyWindow } from './plugins/latency-window.ts'
