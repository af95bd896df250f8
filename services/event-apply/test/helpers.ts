import type { Test } from 'tap'
import { createTestDatabase } from '@commerce/db/testing'
import { testEnv } from '@commerce/kit/testing'
import type { Pool, ResultSetHeader, RowDataPacket } from '@commerce/db'
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

/** An event open from `opensInS` to `closesInS` seconds from now (negative = in the past); PUBLIC unless told. */
export async function createEvent(
  app: App,
  { quota = 100, opensInS = -60, closesInS = 600, announceInS = 3600, entry = 'PUBLIC' as 'PUBLIC' | 'ACCOUNT' } = {},
): Promise<number> {
  const [result] = await app.pool.query<ResultSetHeader>(
    `INSERT INTO events (title, opens_at, closes_at, winner_quota, announce_at, entry)
     VALUES ('test', NOW(6) + INTERVAL ? SECOND, NOW(6) + INTERVAL ? SECOND, ?, NOW(6) + INTERVAL ? SECOND, ?)`,
    [opensInS, closesInS, quota, announceInS, entry],
  )
  return result.insertId
}

/** Ends the event's window and announcement time long enough ago for the draw to run. */
export async function endEvent(app: App, eventId: number): Promise<void> {
  await app.pool.query('UPDATE events SET closes_at = NOW(6) - INTERVAL 1 MINUTE, announce_at = NOW(6) - INTERVAL 1 MINUTE WHERE id = ?', [eventId])
}

export const phoneOf = (n: number) => `010${String(10_000_000 + n).slice(-8)}`

export const apply = (app: App, eventId: number, phone: string, name = 'tester', headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: `/events/${eventId}/applications`, payload: { name, phone }, headers })

/**
 * Holds the first statement of `target.query` that matches `pattern` before it is sent, until
 * released: a racer stopped at a known point instead of a timing guess.
 */
export function holdStatement(t: Test, target: Pick<Pool, 'query'> | Pool, pattern: RegExp): { reached: Promise<void>; release: () => void } {
  let reach = () => {}
  let release = () => {}
  const reached = new Promise<void>((resolve) => (reach = resolve))
  const released = new Promise<void>((resolve) => (release = resolve))
  let held = false
  const restores: (() => void)[] = []
  const intercept = (queryable: Pick<Pool, 'query'>) => {
    const { query } = queryable
    queryable.query = (async (...args: Parameters<typeof query>) => {
      if (!held && pattern.test(typeof args[0] === 'string' ? args[0] : args[0].sql)) {
        held = true
        reach()
        await released
      }
      return query.apply(queryable, args)
    }) as typeof query
    restores.push(() => {
      queryable.query = query
    })
  }
  intercept(target)
  // A pool's transactions run on connections it hands out (the group commit's among them): those are held too.
  if ('getConnection' in target) {
    const { getConnection } = target
    const seen = new WeakSet<object>()
    target.getConnection = (async () => {
      const conn = await getConnection.call(target)
      if (!seen.has(conn)) {
        seen.add(conn)
        intercept(conn)
      }
      return conn
    }) as typeof getConnection
    restores.push(() => {
      target.getConnection = getConnection
    })
  }
  t.teardown(() => {
    for (const restore of restores.reverse()) restore()
    release()
  })
  return { reached, release }
}

/**
 * Sessions on this pool's database waiting for a row lock at this moment. InnoDB refreshes
 * INNODB_TRX only when it was not read for 100 ms: poll it less often than that.
 */
export async function lockWaits(pool: Pool): Promise<number> {
  const [[row]] = (await pool.query<RowDataPacket[]>(
    `SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
     WHERE t.trx_state = 'LOCK WAIT' AND p.DB = DATABASE()`,
  )) as [RowDataPacket[], unknown]
  return Number(row?.n)
}

/** True once `condition` holds (checked every `everyMs`), false after `timeoutMs`. */
export async function eventually(condition: () => Promise<boolean>, timeoutMs = 5_000, everyMs = 5): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (!(await condition())) {
    if (performance.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
  return true
}
