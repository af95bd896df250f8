import { Type, type Static, type TObject, type TProperties } from 'typebox'
import { Value } from 'typebox/value'

/** Settings every service shares; each service adds its own with `serviceConfig(...)`. */
export const baseConfigProperties = {
  HOST: Type.String({ default: '127.0.0.1' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  DATABASE_URL: Type.String({ pattern: '^mysql://' }),
  AUTH_SECRET: Type.String({ minLength: 32 }),
  LOG_LEVEL: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
  /** Membership heartbeat; a member is dead after 4 missed beats (DESIGN §6.1). */
  HEARTBEAT_MS: Type.Integer({ minimum: 20, maximum: 60_000, default: 5_000 }),
  DB_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 200, default: 10 }),
  /**
   * Queries allowed to wait for a pooled connection before failing fast with 503. Sized to what
   * the pool drains within the latency budget: ~1 ms statements on 10 connections clear 500
   * waiters in ~50 ms; beyond that the replica is overloaded and says so at once.
   */
  DB_QUEUE_LIMIT: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
  DB_LOCK_WAIT_TIMEOUT_S: Type.Integer({ minimum: 1, maximum: 600, default: 2 }),
  REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
  /** The API guard's refresh of RUNNING batch runs (DESIGN §6.3); batch publish waits 2 × 250 ms. */
  BATCH_GUARD_REFRESH_MS: Type.Integer({ minimum: 10, maximum: 250, default: 200 }),
  /** Off only to measure what the guard buys (benchmarks): every user is then treated as idle. */
  BATCH_GUARD_ENABLED: Type.Boolean({ default: true }),
  SHUTDOWN_GRACE_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
}

export const baseConfigSchema = Type.Object(baseConfigProperties)
export type BaseConfig = Static<typeof baseConfigSchema>

export function serviceConfig<P extends TProperties>(extra: P) {
  return Type.Object({ ...baseConfigProperties, ...extra })
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/**
 * Validates the environment against a schema at boot: defaults applied, strings converted to
 * numbers, unknown variables dropped. Every problem is listed in one error.
 */
export function loadConfig<T extends TObject>(schema: T, env: Record<string, string | undefined> = process.env): Static<T> {
  // A plain copy, not Value.Clone: Clone hands back process.env itself (not a plain object),
  // which would coerce converted numbers back to strings and lose the variables Clean drops.
  const candidate = Value.Clean(schema, Value.Convert(schema, Value.Default(schema, { ...env })))
  if (Value.Check(schema, candidate)) return candidate as Static<T>
  const problems = Value.Errors(schema, candidate).map((error) => {
    const name = error.instancePath.replace(/^\//, '') || String((error.params as { requiredProperties?: string[] }).requiredProperties?.join(', ') ?? '')
    return `${name}: ${error.message}`
  })
  throw new ConfigError(`invalid configuration: ${[...new Set(problems)].join('; ')}`)
}
