import t from 'tap'
import { uuidFromBytes, type RowDataPacket } from '@commerce/db'
import { tableNames } from '@commerce/db/testing'
import { assertFuzzClean, fuzzService, operatorRoutes, sqlInjections, type FuzzRoute } from '@commerce/kit/fuzz'
import { attackTokens, bearer, unrefusedAttacks } from '@commerce/kit/testing'
import { eventErrors } from '../../src/errors.ts'
import { eventFuzzRoutes, eventWindow } from '../fuzz-routes.ts'
import { apply, createEvent, phoneOf, startApp } from '../helpers.ts'

const admin = bearer(1, 'admin')

t.test('fuzz: every route answers malformed input with a 4xx and a code, never a 5xx or a leak', async (t) => {
  const { app } = await startApp(t)
  const before = await tableNames(app.pool)
  const [open, signedIn, future] = [
    await createEvent(app, { quota: 1_000_000 }),
    await createEvent(app, { quota: 1_000_000, entry: 'ACCOUNT' }),
    await createEvent(app, { opensInS: 3600, closesInS: 7200, announceInS: 9000 }),
  ]
  const { applicationId: application, receipt } = (await apply(app, open, phoneOf(1))).json() as { applicationId: string; receipt: string }
  const routes: FuzzRoute[] = [...eventFuzzRoutes({ events: [open, signedIn, future], application, receipt }), ...operatorRoutes]
  const report = await fuzzService(app, routes, {
    service: 'event-apply',
    errors: eventErrors,
    fields: { DUPLICATE_APPLICATION: ['applicationId', 'receipt'] },
    seed: 20261003,
    runs: 5000,
    authorizations: [bearer(5).authorization, admin.authorization],
    attacks: Object.values(attackTokens(1)),
  })
  assertFuzzClean(t, report)
  t.ok(
    report.statuses['201'] && report.statuses['409'] && report.statuses['403'],
    'applications and events were created, duplicates refused, early ones refused',
  )
  t.same(await tableNames(app.pool), before, 'every table is still there')
  const [[duplicates]] = (await app.pool.query<RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM (SELECT event_id, phone FROM event_applications GROUP BY event_id, phone HAVING COUNT(*) > 1) d',
  )) as [RowDataPacket[], unknown]
  t.equal(duplicates?.n, 0, 'one application per phone and event')
})

t.test('auth: POST /events refuses forged, expired, wrong-algorithm, wrong-secret, malformed and wrong-scheme tokens (401), users (403)', async (t) => {
  const { app } = await startApp(t)
  const attacks = attackTokens(1)
  const { sent, unrefused } = await unrefusedAttacks(app, [{ method: 'POST', url: '/events', payload: eventWindow }], attacks)
  t.comment(`auth event-apply: ${Object.keys(attacks).length} attack headers × 1 admin route = ${sent} requests, ${sent - unrefused.length} × 401 UNAUTHORIZED`)
  t.same(unrefused, [])
  const anonymous = await app.inject({ method: 'POST', url: '/events', payload: eventWindow })
  t.same([anonymous.statusCode, anonymous.json().code], [401, 'UNAUTHORIZED'])
  for (const payload of [{}, { title: "'; DROP TABLE events; --" }, 'not json']) {
    const response = await app.inject({ method: 'POST', url: '/events', payload })
    t.same(
      [response.statusCode, response.json().code],
      [401, 'UNAUTHORIZED'],
      `anonymous with an invalid body: 401 before the body is read (${JSON.stringify(payload)})`,
    )
    const asUser = await app.inject({ method: 'POST', url: '/events', payload, headers: bearer(1) })
    t.same([asUser.statusCode, asUser.json().code], [403, 'FORBIDDEN'], 'a user with an invalid body: 403 before the body is read')
  }
  const user = await app.inject({ method: 'POST', url: '/events', payload: eventWindow, headers: bearer(1) })
  t.same([user.statusCode, user.json().code], [403, 'FORBIDDEN'], 'a user, even with id 1, is not an admin')
  const [[events]] = (await app.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM events')) as [RowDataPacket[], unknown]
  t.equal(events?.n, 0, 'no refused request created an event')
})

t.test('SQL injection in an applicant name and an event title is stored byte-identical (names trimmed), never executed', async (t) => {
  const { app } = await startApp(t)
  const before = await tableNames(app.pool)
  const eventId = await createEvent(app, { quota: 1_000 })
  const names = [...sqlInjections, "O'Brien", 'a"b\\c', '%_%', '김; DROP DATABASE x']
  let stored = 0
  for (const [i, name] of names.entries()) {
    const response = await apply(app, eventId, phoneOf(100 + i), name)
    if ([...name.trim()].length > 50) {
      t.same([response.statusCode, response.json().code], [400, 'VALIDATION'], `${name}: too long for a name, refused`)
      continue
    }
    t.equal(response.statusCode, 201, name)
    stored += 1
    const [[row]] = (await app.pool.query<RowDataPacket[]>("SELECT name, HEX(name) AS hex FROM event_applications WHERE id = UNHEX(REPLACE(?, '-', ''))", [
      response.json().applicationId,
    ])) as [RowDataPacket[], unknown]
    // Names are trimmed (normaliseName); nothing else about them changes.
    t.equal(row?.name, name.trim(), 'read back as sent')
    t.equal(row?.hex, Buffer.from(name.trim(), 'utf8').toString('hex').toUpperCase(), 'byte-identical')
  }
  for (const title of sqlInjections) {
    const created = await app.inject({ method: 'POST', url: '/events', payload: { ...eventWindow, title }, headers: admin })
    t.equal(created.statusCode, 201, title)
    t.equal(created.json().title, title)
    t.equal((await app.inject(`/events/${created.json().id}`)).json().title, title, 'read back as sent')
  }
  const phone = await apply(app, eventId, "010-1234-5678' OR '1'='1")
  t.same([phone.statusCode, phone.json().code], [400, 'VALIDATION'], 'a phone carrying SQL is refused')
  t.same(await tableNames(app.pool), before, 'no table dropped or created')
  const [rows] = await app.pool.query<RowDataPacket[]>('SELECT id FROM event_applications WHERE event_id = ?', [eventId])
  t.equal(rows.length, stored, 'every application is there, nothing deleted')
  t.ok(stored >= names.length - 1)
  t.ok(rows.every((row) => typeof uuidFromBytes(row.id) === 'string'))
})
