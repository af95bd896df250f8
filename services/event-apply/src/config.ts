import { loadConfig, serviceConfig } from '@commerce/kit'
import { Type, type Static } from 'typebox'

export const configSchema = serviceConfig({
  /** Longest a buffered application waits for its group commit. */
  EVENT_FLUSH_MS: Type.Integer({ minimum: 0, maximum: 100, default: 2 }),
  /** The same for lookups alone (arrivals after early close, which write nothing): they wait for company. */
  EVENT_LOOKUP_MS: Type.Integer({ minimum: 0, maximum: 100, default: 10 }),
  /** Rows per multi-row INSERT; a full buffer flushes at once. */
  EVENT_FLUSH_ROWS: Type.Integer({ minimum: 1, maximum: 5_000, default: 500 }),
  /** Group commits in flight at once per replica (each holds one pooled connection). */
  EVENT_FLUSH_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 4 }),
  /** Applications buffered or being written per replica; beyond it new ones get 503. */
  EVENT_BUFFER_LIMIT: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000 }),
  /** How often a replica re-reads its open events and their committed counts (early close). */
  EVENT_REFRESH_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 200 }),
  /** Applications one signed-in account may send per second to one replica (a person applies once; a retry or two). */
  EVENT_ACCOUNT_RATE_PER_S: Type.Number({ minimum: 0.01, maximum: 100_000, default: 1 }),
  /** And at once, after being idle. */
  EVENT_ACCOUNT_BURST: Type.Integer({ minimum: 1, maximum: 100_000, default: 5 }),
  /** Accounts a replica remembers buckets for (the least recently seen are forgotten beyond it). */
  EVENT_ACCOUNT_LIMIT_ENTRIES: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 100_000 }),
})
export type Config = Static<typeof configSchema>

export const loadServiceConfig = (env: Record<string, string | undefined> = process.env): Config => loadConfig(configSchema, env)
