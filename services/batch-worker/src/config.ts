import { baseConfigSchema, loadConfig } from '@commerce/kit'
import type { Static } from 'typebox'

// Service-specific settings join the shared ones here as the features land.
export const configSchema = baseConfigSchema
export type Config = Static<typeof configSchema>

export const loadServiceConfig = (env: Record<string, string | undefined> = process.env): Config => loadConfig(configSchema, env)
