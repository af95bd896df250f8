import { batchGuardConfigCheck, batchGuardConfigProperties, loadConfig, serviceConfig } from '@commerce/kit'
import { Type, type Static } from 'typebox'

export const configSchema = serviceConfig({
  ...batchGuardConfigProperties,
  /** How often each replica applies the PENDING redemptions of its share of users (DESIGN §6.4). */
  COUPON_SWEEP_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 250 }),
  /**
   * Redemptions applied at once per replica; more are deferred (202) at once. A redeem may wait
   * up to the lock wait timeout on a locked coupon row, holding a pooled connection meanwhile:
   * kept below DB_POOL_SIZE, such waits can never take every connection from the other routes.
   */
  COUPON_REDEEM_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 200, default: 4 }),
  /**
   * PENDING (202) redemptions one user may have at once; a fresh key past it is 429
   * TOO_MANY_PENDING. The chunk that applies them does so in its transaction, holding its users'
   * locks: 10,000 from one flooding user cost it about a second (docs/BENCHMARKS.md). One per
   * coupon held is all a client needs.
   */
  COUPON_MAX_PENDING_PER_USER: Type.Integer({ minimum: 1, maximum: 1_000, default: 10 }),
})
export type Config = Static<typeof configSchema>

export const loadServiceConfig = (env: Record<string, string | undefined> = process.env): Config => loadConfig(configSchema, env, [batchGuardConfigCheck])
