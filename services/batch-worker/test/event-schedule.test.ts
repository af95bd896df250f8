import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { createTestDatabase } from '@commerce/db/testing'
import type { ResultSetHeader, RowDataPacket } from '@commerce/db'
import { bearer, testEnv } from '@commerce/kit/testing'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'

const quiet = { BATCH_SCHEDULE_ENABLED: 'false', BATCH_DAEMON_POLL_MS: '60000' }

async function daemon(t: Test, url: string, env: Record<string, string> = {}) {
  const app = await buildApp({ config: loadServiceConfig(testEnv(url, { ...quiet, ...env })), logger: false })
  t.teardown(() => app.close())
  await app.ready()
  return app
}
type App = Awaited<ReturnType<typeof daemon>>

async function closedEvent(app: App, applicants: number, closedAgo = '1 MINUTE'): Promise<number> {
  const [event] = await app.pool.query<ResultSetHeader>(
    `INSERT INTO events (title, opens_at, closes_at, winner_quota, announce_at) VALUES ('t', NOW(6) - INTERVAL 1 HOUR, NOW(6) - INTERVAL ${closedAgo}, 3, NOW(6) + INTERVAL 1 DAY)`,
  )
  for (let i = 0; i < applicants; i += 1) {
    await app.pool.query(
      "INSERT INTO event_applications (id, event_id, name, phone, received_at, replica_id, replica_seq) VALUES (UNHEX(REPLACE(UUID(), '-', '')), ?, 'n', ?, NOW(6), UNHEX(REPLACE(UUID(), '-', '')), ?)",
      [event.insertId, `0101000000${i}`, i],
    )
  }
  // Due only now that its applications are in: a daemon polling meanwhile must not draw it early.
  await app.pool.query('UPDATE events SET announce_at = closes_at WHERE id = ?', [event.insertId])
  return event.insertId
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (;;) {
    const value = await read()
    if (done(value)) return value
    await sleep(20)
  }
}

t.test('two daemons create today’s and tomorrow’s daily event once, and draw a due event once', async (t) => {
  const url = await createTestDatabase(t)
  const env = { EVENT_POLL_MS: '20' }
  const [a, b] = [await daemon(t, url, env), await daemon(t, url, env)]
  const events = await until(
    async () =>
      (
        await a.pool.query<RowDataPacket[]>(
          'SELECT schedule_key, winner_quota, TIMESTAMPDIFF(MINUTE, opens_at, closes_at) AS minutes FROM events WHERE schedule_key IS NOT NULL ORDER BY schedule_key',
        )
      )[0],
    (rows) => rows.length >= 2,
  )
  t.equal(events.length, 2)
  t.match(events[0], { schedule_key: /^daily:\d{4}-\d\d-\d\d$/, winner_quota: 100, minutes: 10 })

  const eventId = await closedEvent(a, 5)
  const drawn = await until(
    async () => (await a.pool.query<RowDataPacket[]>('SELECT status FROM events WHERE id = ?', [eventId]))[0][0]?.status,
    (status) => status === 'ANNOUNCED',
  )
  t.equal(drawn, 'ANNOUNCED')
  const [[winners]] = (await a.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM event_winners WHERE event_id = ?', [eventId])) as [
    RowDataPacket[],
    unknown,
  ]
  t.equal(winners?.n, 3, 'exactly the quota')
  const draws = async (app: App) => Number(/batch_event_draws_total\{[^}]*outcome="DRAWN"[^}]*\} (\d+)/.exec((await app.inject('/metrics')).body)?.[1] ?? 0)
  // The drawer counts its draw after the commit the status above was read from: wait for the count.
  const counted = await until(
    async () => (await draws(a)) + (await draws(b)),
    (n) => n >= 1,
  )
  t.equal(counted, 1, 'one daemon drew it')
})

t.test('POST /events/:id/draw: admin only, refuses an event still settling, idempotent', async (t) => {
  const app = await daemon(t, await createTestDatabase(t), { EVENT_SCHEDULE_ENABLED: 'false', EVENT_POLL_MS: '60000' })
  const settling = await closedEvent(app, 2, '1 SECOND')
  const ready = await closedEvent(app, 5)
  const draw = (id: number, headers: Record<string, string> = bearer(1, 'admin')) => app.inject({ method: 'POST', url: `/events/${id}/draw`, headers })
  t.equal((await draw(ready, {})).statusCode, 401)
  t.equal((await draw(ready, bearer(1))).json().code, 'FORBIDDEN')
  t.same([(await draw(settling)).statusCode, (await draw(settling)).json().code], [409, 'EVENT_STILL_OPEN'])
  t.same([(await draw(999_999)).statusCode, (await draw(999_999)).json().code], [404, 'EVENT_NOT_FOUND'])
  t.same((await draw(ready)).json(), { eventId: ready, outcome: 'DRAWN', winners: 3 })
  t.same((await draw(ready)).json(), { eventId: ready, outcome: 'ALREADY_DRAWN', winners: 3 })
  t.equal((await app.inject({ method: 'POST', url: '/events/abc/draw', headers: bearer(1, 'admin') })).json().code, 'VALIDATION')
})
