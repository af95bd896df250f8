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
})
export type Config = Static<typeof configSchema>

export const loadServiceConfig = (env: Record<string, string | undefined> = process.env): Config => loadConfig(configSchema, env, [batchGuardConfigCheck])
