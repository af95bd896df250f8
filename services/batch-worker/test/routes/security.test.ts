import t, { type Test } from 'tap'
import type { ResultSetHeader, RowDataPacket } from '@commerce/db'
import { createTestDatabase, tableNames } from '@commerce/db/testing'
import { assertFuzzClean, fuzzService, operatorRoutes, sqlInjections, type FuzzRoute } from '@commerce/kit/fuzz'
import { attackTokens, bearer, testEnv, unrefusedAttacks } from '@commerce/kit/testing'
import { buildApp } from '../../src/app.ts'
import { loadServiceConfig } from '../../src/config.ts'
import { batchErrors } from '../../src/errors.ts'
import { batchFuzzRoutes } from '../fuzz-routes.ts'

const quiet = { BATCH_SCHEDULE_ENABLED: 'false', EVENT_SCHEDULE_ENABLED: 'false', BATCH_DAEMON_POLL_MS: '60000', EVENT_POLL_MS: '60000' }
const admin = bearer(1, 'admin')

async function daemon(t: Test) {
  const app = await buildApp({ config: loadServiceConfig(testEnv(await createTestDatabase(t), quiet)), logger: false })
  t.teardown(() => app.close())
  await app.ready()
  return app
}
type App = Awaited<ReturnType<typeof daemon>>

async function closedEvent(app: App): Promise<number> {
  const [event] = await app.pool.query<ResultSetHeader>(
    "INSERT INTO events (title, opens_at, closes_at, winner_quota, announce_at) VALUES ('t', NOW(6) - INTERVAL 2 HOUR, NOW(6) - INTERVAL 1 HOUR, 3, NOW(6) - INTERVAL 1 HOUR)",
  )
  return event.insertId
}

t.test('fuzz: the daemon’s routes answer malformed input with a 4xx and a code, never a 5xx or a leak', async (t) => {
  const app = await daemon(t)
  // An order in October 2026: a run for that month is admitted (earlier months are refused).
  await app.pool.query("INSERT INTO users (id, name) VALUES (1, 'u')")
  await app.pool.query("INSERT INTO orders (user_id, amount, category, status, ordered_at) VALUES (1, 100, 'books', 'PAID', '2026-10-05 00:00:00')")
  const before = await tableNames(app.pool)
  const eventId = await closedEvent(app)
  const routes: FuzzRoute[] = [...batchFuzzRoutes({ closedEvent: eventId }), ...operatorRoutes]
  const report = await fuzzService(app, routes, {
    service: 'batch-worker',
    errors: batchErrors,
    seed: 20261004,
    runs: 4000,
    authorizations: [bearer(5).authorization, admin.authorization],
    attacks: Object.values(attackTokens(1)),
  })
  assertFuzzClean(t, report)
  t.ok(report.statuses['202'] && report.statuses['403'] && report.statuses['401'], 'runs were requested by the admin, refused to users and to strangers')
  t.same(await tableNames(app.pool), before, 'every table is still there')
  const [[runsRequested]] = (await app.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM batch_runs')) as [RowDataPacket[], unknown]
  t.ok(Number(runsRequested?.n) >= 1, 'the admin’s valid requests reached the runner')
})

t.test('auth: run triggers and the event draw are admin-only: attack tokens 401, users 403, anonymous 401', async (t) => {
  const app = await daemon(t)
  const eventId = await closedEvent(app)
  const requests = [
    { method: 'POST' as const, url: '/runs', payload: { period: '2026-10' } },
    { method: 'POST' as const, url: `/events/${eventId}/draw` },
    // The console is for admins, reading included.
    { method: 'GET' as const, url: '/console/api/snapshot' },
    { method: 'GET' as const, url: '/console/api/stream' },
    { method: 'GET' as const, url: '/console/api/runs?period=2026-10' },
    { method: 'POST' as const, url: '/console/api/runs', payload: { period: '2026-10' } },
    { method: 'POST' as const, url: `/console/api/events/${eventId}/draw` },
  ]
  const attacks = attackTokens(1)
  const { sent, unrefused } = await unrefusedAttacks(app, requests, attacks)
  t.comment(
    `auth batch-worker: ${Object.keys(attacks).length} attack headers × ${requests.length} admin routes = ${sent} requests, ${sent - unrefused.length} × 401 UNAUTHORIZED`,
  )
  t.same(unrefused, [])
  for (const request of requests) {
    const anonymous = await app.inject(request)
    t.same([anonymous.statusCode, anonymous.json().code], [401, 'UNAUTHORIZED'], `anonymous ${request.url}`)
    const user = await app.inject({ ...request, headers: bearer(1) })
    t.same([user.statusCode, user.json().code], [403, 'FORBIDDEN'], `user ${request.url}`)
  }
  for (const request of [
    { method: 'POST' as const, url: '/runs', payload: { period: 'nope' } },
    { method: 'POST' as const, url: '/events/abc/draw' },
  ]) {
    t.same((await app.inject(request)).json().code, 'UNAUTHORIZED', `anonymous, invalid input: 401 before parsing (${request.url})`)
    t.same((await app.inject({ ...request, headers: bearer(1) })).json().code, 'FORBIDDEN', `user, invalid input: 403 before parsing (${request.url})`)
  }
  const [[runs]] = (await app.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM batch_runs')) as [RowDataPacket[], unknown]
  const [[winners]] = (await app.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM event_winners')) as [RowDataPacket[], unknown]
  const [[event]] = (await app.pool.query<RowDataPacket[]>('SELECT status FROM events WHERE id = ?', [eventId])) as [RowDataPacket[], unknown]
  t.same([runs?.n, winners?.n, event?.status], [0, 0, 'SCHEDULED'], 'no refused request started a run or drew the event')
})

t.test('SQL injection in a period or a run id is refused verbatim, never executed', async (t) => {
  const app = await daemon(t)
  const before = await tableNames(app.pool)
  for (const period of sqlInjections) {
    const posted = await app.inject({ method: 'POST', url: '/runs', payload: { period }, headers: admin })
    t.same([posted.statusCode, posted.json().code], [400, 'VALIDATION'], period)
    const read = await app.inject(`/runs?period=${encodeURIComponent(period)}`)
    t.same([read.statusCode, read.json().code], [400, 'VALIDATION'], period)
    const byId = await app.inject(`/runs/${encodeURIComponent(period)}`)
    t.same([byId.statusCode, byId.json().code], [400, 'VALIDATION'], period)
  }
  t.same(await tableNames(app.pool), before)
})

t.test('names of Object.prototype as a strategy are refused, never recorded as a run no daemon serves', async (t) => {
  const app = await daemon(t)
  await app.pool.query("INSERT INTO users (id, name) VALUES (1, 'u')")
  await app.pool.query("INSERT INTO orders (user_id, amount, category, status, ordered_at) VALUES (1, 100, 'books', 'PAID', '2026-10-05 00:00:00')")
  for (const strategy of [...Object.getOwnPropertyNames(Object.prototype), 'prototype']) {
    const response = await app.inject({ method: 'POST', url: '/runs', payload: { period: '2026-10', strategy }, headers: admin })
    t.equal(response.statusCode, 400, strategy)
    t.match(response.json().code, /^(VALIDATION|UNKNOWN_STRATEGY)$/, strategy)
  }
  const [[runs]] = (await app.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM batch_runs')) as [RowDataPacket[], unknown]
  t.equal(runs?.n, 0)
})
