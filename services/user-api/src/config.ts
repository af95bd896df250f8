import { batchGuardConfigCheck, batchGuardConfigProperties, loadConfig, serviceConfig } from '@commerce/kit'
import type { Static } from 'typebox'

export const configSchema = serviceConfig(batchGuardConfigProperties)
export type Config = Static<typeof configSchema>

export const loadServiceConfig = (env: Record<string, string | undefined> = process.env): Config => loadConfig(configSchema, env, [batchGuardConfigCheck])
