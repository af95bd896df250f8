import { loadConfig, serviceConfig } from '@commerce/kit'
import { Type, type Static } from 'typebox'

export const configSchema = serviceConfig({
  /** How often each replica applies the PENDING redemptions of its share of users (DESIGN §6.4). */
  COUPON_SWEEP_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 250 }),
})
export type Config = Static<typeof configSchema>

export const loadServiceConfig = (env: Record<string, string | undefined> = process.env): Config => loadConfig(configSchema, env)
