import { Type, type Static, type TObject, type TProperties } from 'typebox'
import { Value } from 'typebox/value'
import { maxHeartbeatMs } from '@commerce/cluster'
import { accessLogConfigProperties } from './plugins/access-log.ts'
import { clockConfigProperties } from './plugins/clock.ts'
import { latencyWindowConfigProperties } from './plugins/latency-window.ts'

/** Settings every service shares; each service adds its own with `serviceConfig(...)`. */
export const baseConfigProperties = {
  HOST: Type.String({ default: '127.0.0.1' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  DATABASE_URL: Type.String({ pattern: '^mysql://' }),
  AUTH_SECRET: Type.String({ minLength: 32 }),
  LOG_LEVEL: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
  /** Membership heartbeat; a member is dead after 4 missed beats (DESIGN §6.1). The maximum bounds how long another service's row may look stale yet be alive. */
  HEARTBEAT_MS: Type.Integer({ minimum: 20, maximum: maxHeartbeatMs, default: 5_000 }),
  DB_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 200, default: 10 }),
  /**
   * The most replicas of this service that may run at once (a Kubernetes HPA's maxReplicas): at
   * boot a replica warns when DB_POOL_SIZE × this exceeds the server's max_connections.
   */
  DB_MAX_REPLICAS: Type.Integer({ minimum: 1, maximum: 10_000, default: 2 }),
  /**
   * Queries allowed to wait for a pooled connection before failing fast with 503. Sized to what
   * the pool drains within the latency budget: ~1 ms statements on 10 connections clear 500
   * waiters in ~50 ms; beyond that the replica is overloaded and says so at once.
   */
  DB_QUEUE_LIMIT: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
  DB_LOCK_WAIT_TIMEOUT_S: Type.Integer({ minimum: 1, maximum: 600, default: 2 }),
  REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
  /** Shed load (503 OVERLOADED) while the event loop lags more than this; 0 turns it off. /health and /metrics are never shed. */
  SHED_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 1_000 }),
  SHUTDOWN_GRACE_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
  /**
   * On SIGTERM a listening replica stops accepting and keeps serving its open connections this long
   * (at most half the grace), every answer with `Connection: close`: longer than the load balancer
   * keeps an idle upstream connection (nginx here: 4 s), so nginx closes every kept-alive connection
   * itself and never sends a request on one the replica is closing (a POST it has sent is never
   * retried: a 502). A refused connect nginx retries on a sibling.
   */
  SHUTDOWN_DRAIN_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 5_000 }),
  ...clockConfigProperties,
  ...accessLogConfigProperties,
  ...latencyWindowConfigProperties,
}

export const baseConfigSchema = Type.Object(baseConfigProperties)
export type BaseConfig = Static<typeof baseConfigSchema>

export function serviceConfig<P extends TProperties>(extra: P) {
  return Type.Object({ ...baseConfigProperties, ...extra })
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** The placeholder committed in infra/compose/.env.example and infra/k8s/base/secrets.env.example. */
export const exampleAuthSecret = 'replace-with-at-least-32-random-characters'
/** Fewer distinct characters than this is a pattern, not a secret (`openssl rand -hex 32` has ~16). */
const minDistinctSecretChars = 10
/** Words of a placeholder someone meant to replace; random bytes never spell them. */
const placeholder = /change[-_ ]?me|replace[-_ ]?(me|with)|your[-_ ]?secret|example|placeholder|not[-_ ]?a[-_ ]?secret|password|default/i

/**
 * Why an AUTH_SECRET of the right length is still unfit to sign tokens, or undefined when it is fit.
 * Applies everywhere (no environment branching): the local stack's secret is random per checkout
 * (infra/local/src/secret.ts) and the tests' passes too.
 */
export function weakSecretReason(secret: string): string | undefined {
  const fix = 'set a random one, e.g. `openssl rand -hex 32`'
  if (secret === exampleAuthSecret) return `is the example value from .env.example; ${fix}`
  if (new Set(secret).size < minDistinctSecretChars) return `has fewer than ${minDistinctSecretChars} distinct characters; ${fix}`
  if (placeholder.test(secret)) return `looks like a placeholder ("${placeholder.exec(secret)?.[0]}"); ${fix}`
  return undefined
}

/** A rule across settings of one fragment: the problem with `config` (already valid field by field), or undefined. */
export type ConfigCheck<T> = (config: T) => string | undefined

/**
 * Validates the environment against a schema at boot: defaults applied, strings converted to
 * numbers, unknown variables dropped, then each fragment's cross-setting `checks`. Every problem
 * is listed in one error.
 */
export function loadConfig<T extends TObject>(
  schema: T,
  env: Record<string, string | undefined> = process.env,
  checks: readonly ConfigCheck<Static<T>>[] = [],
): Static<T> {
  // A plain copy, not Value.Clone: Clone hands back process.env itself (not a plain object),
  // which would coerce converted numbers back to strings and lose the variables Clean drops.
  const candidate = Value.Clean(schema, Value.Convert(schema, Value.Default(schema, { ...env })))
  // A secret of the right length may still be a known or guessable one: refused like a bad value.
  const secret = (candidate as { AUTH_SECRET?: unknown }).AUTH_SECRET
  const weak = 'AUTH_SECRET' in schema.properties && typeof secret === 'string' && secret.length >= 32 ? weakSecretReason(secret) : undefined
  const valid = Value.Check(schema, candidate)
  const crossed = valid ? checks.map((check) => check(candidate as Static<T>)).filter((problem) => problem !== undefined) : []
  if (valid && !weak && crossed.length === 0) return candidate as Static<T>
  const problems = [...Value.Errors(schema, candidate)].map((error) => {
    const name = error.instancePath.replace(/^\//, '') || String((error.params as { requiredProperties?: string[] }).requiredProperties?.join(', ') ?? '')
    return `${name}: ${error.message}`
  })
  if (weak) problems.push(`AUTH_SECRET: ${weak}`)
  problems.push(...crossed)
  throw new ConfigError(`invalid configuration: ${[...new Set(problems)].join('; ')}`)
}
