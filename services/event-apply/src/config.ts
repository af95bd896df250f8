import { loadConfig, serviceConfig } from '@commerce/kit'
import { Type, type Static } from 'typebox'

export const configSchema = serviceConfig({
  /** Longest a buffered application waits for its group commit. */
  EVENT_FLUSH_MS: Type.Integer({ minimum: 0, maximum: 100, default: 2 }),
  /** Rows per multi-row INSERT; a full buffer flushes at once. */
  EVENT_FLUSH_ROWS: Type.Integer({ minimum: 1, maximum: 5_000, default: 500 }),
  /** Group commits in flight at once per replica (each holds one pooled connection). */
  EVENT_FLUSH_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 4 }),
  /** Applications buffered or being written per replica; beyond it new ones get 503. */
  EVENT_BUFFER_LIMIT: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000 }),
  /** How often a replica re-reads its open events and their committed counts (early close). */
  EVENT_REFRESH_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 200 }),
})
export type Config = Static<typeof configSchema>

export const loadServiceConfig = (env: Record<string, string | undefined> = process.env): Config => loadConfig(configSchema, env)
