import type { Test } from 'tap'
import { createTestDatabase } from '@commerce/db/testing'
import { testEnv } from '@commerce/kit/testing'
import type { ResultSetHeader } from '@commerce/db'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'

export type App = Awaited<ReturnType<typeof buildApp>>

/** A ready app on `url` (a fresh database unless given), closed when the test ends. */
export async function startApp(t: Test, env: Record<string, string> = {}, url?: string): Promise<{ app: App; url: string }> {
  const databaseUrl = url ?? (await createTestDatabase(t))
  const app = await buildApp({ config: loadServiceConfig(testEnv(databaseUrl, env)), logger: false })
  t.teardown(() => app.close())
  await app.ready()
  return { app, url: databaseUrl }
}

/** An event open from `opensInS` to `closesInS` seconds from now (negative = in the past). */
export async function createEvent(app: App, { quota = 100, opensInS = -60, closesInS = 600, announceInS = 3600 } = {}): Promise<number> {
  const [result] = await app.pool.query<ResultSetHeader>(
    `INSERT INTO events (title, opens_at, closes_at, winner_quota, announce_at)
     VALUES ('test', NOW(6) + INTERVAL ? SECOND, NOW(6) + INTERVAL ? SECOND, ?, NOW(6) + INTERVAL ? SECOND)`,
    [opensInS, closesInS, quota, announceInS],
  )
  return result.insertId
}

/** Ends the event's window and announcement time long enough ago for the draw to run. */
export async function endEvent(app: App, eventId: number): Promise<void> {
  await app.pool.query('UPDATE events SET closes_at = NOW(6) - INTERVAL 1 MINUTE, announce_at = NOW(6) - INTERVAL 1 MINUTE WHERE id = ?', [eventId])
}

export const phoneOf = (n: number) => `010${String(10_000_000 + n).slice(-8)}`

export const apply = (app: App, eventId: number, phone: string, name = 'tester') =>
  app.inject({ method: 'POST', url: `/events/${eventId}/applications`, payload: { name, phone } })
