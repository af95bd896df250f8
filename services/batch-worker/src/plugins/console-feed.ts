import fp from 'fastify-plugin'
import { Type } from 'typebox'
import type { Pool } from '@commerce/db'
import { readConsoleSnapshot, type ConsoleSnapshot } from '../console/snapshot.ts'

/** The console's own settings (config.ts spreads them into the service's schema). */
export const consoleConfigProperties = {
  /** How old the console's snapshot may be: one read per this interval per batch-worker, however many pages are open. */
  CONSOLE_REFRESH_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 1_000 }),
}

export interface ConsoleFeedOptions {
  pool: Pool
  heartbeatMs: number
  refreshMs: number
}

/**
 * The console's data, read at most once per `refreshMs` and shared: every page and stream asks
 * `latest()`, and concurrent askers wait on the same read. Nothing is read while nobody asks.
 */
export function createConsoleFeed({ pool, heartbeatMs, refreshMs }: ConsoleFeedOptions) {
  let cached: { at: number; snapshot: ConsoleSnapshot; json: string } | undefined
  let reading: Promise<{ snapshot: ConsoleSnapshot; json: string }> | undefined

  async function read() {
    const snapshot = await readConsoleSnapshot(pool, { heartbeatMs })
    cached = { at: performance.now(), snapshot, json: JSON.stringify(snapshot) }
    return cached
  }

  return {
    refreshMs,
    /** The snapshot and its JSON (streams compare the JSON to send only what changed). */
    latest(): Promise<{ snapshot: ConsoleSnapshot; json: string }> {
      if (cached && performance.now() - cached.at < refreshMs) return Promise.resolve(cached)
      reading ??= read().finally(() => {
        reading = undefined
      })
      return reading
    },
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    consoleFeed: ReturnType<typeof createConsoleFeed>
  }
}

export default fp<Omit<ConsoleFeedOptions, 'pool'>>(
  async (app, options) => {
    app.decorate('consoleFeed', createConsoleFeed({ pool: app.pool, ...options }))
  },
  { name: 'console-feed', dependencies: ['db'] },
)
