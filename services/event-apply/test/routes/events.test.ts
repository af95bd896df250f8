import t, { type Test } from 'tap'
import { auditEvent, formatAudit } from '@commerce/audit'
import { drawWinners, uuidFromBytes, type Pool, type RowDataPacket } from '@commerce/db'
import { bearer } from '@commerce/kit/testing'
import { apply, createEvent, endEvent, eventually, holdStatement, lockWaits, phoneOf, startApp, type App } from '../helpers.ts'

const admin = bearer(1, 'admin')
const window = { title: 'Lunch draw', opensAt: '2030-01-01T04:00:00Z', closesAt: '2030-01-01T04:10:00Z', winnerQuota: 100, announceAt: '2030-01-02T04:00:00Z' }

t.test('POST /events: admin only, validated, 201 with the event', async (t) => {
  const { app } = await startApp(t)
  t.equal((await app.inject({ method: 'POST', url: '/events', payload: window })).statusCode, 401)
  t.equal((await app.inject({ method: 'POST', url: '/events', payload: window, headers: bearer(7) })).json().code, 'FORBIDDEN')
  const created = await app.inject({ method: 'POST', url: '/events', payload: window, headers: admin })
  t.equal(created.statusCode, 201)
  const iso = (text: string) => new Date(text).toISOString()
  t.match(created.json(), { ...window, opensAt: iso(window.opensAt), closesAt: iso(window.closesAt), announceAt: iso(window.announceAt), status: 'SCHEDULED' })
  t.equal(created.headers.location, `/events/${created.json().id}`)
  t.same((await app.inject(`/events/${created.json().id}`)).json(), created.json(), 'readable by anyone')
  const backwards = await app.inject({ method: 'POST', url: '/events', payload: { ...window, closesAt: window.opensAt }, headers: admin })
  t.same([backwards.statusCode, backwards.json().code], [400, 'INVALID_EVENT_WINDOW'])
  for (const payload of [{ ...window, opensAt: 'tomorrow' }, { ...window, winnerQuota: 0 }, { ...window, winnerQuota: 1.5 }, { title: 'x' }]) {
    const response = await app.inject({ method: 'POST', url: '/events', payload, headers: admin })
    t.same([response.statusCode, response.json().code], [400, 'VALIDATION'], JSON.stringify(payload))
  }
})

t.test(
  'POST /events: an instant the database cannot store or the app cannot believe is 400 VALIDATION and stores nothing; the edges it can are kept',
  async (t) => {
    const { app } = await startApp(t)
    const post = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/events', payload, headers: admin })
    // Each in a window that stays ordered, so only the instant itself can be refused.
    const refused: [string, Record<string, string>][] = [
      ['year 10000 in UTC (9999 at -12:00): past DATETIME(6)', { announceAt: '9999-12-31T23:59:59.999999-12:00' }],
      ['expanded year', { closesAt: '+275760-09-13T00:00:00Z', announceAt: '+275760-09-13T00:00:00Z' }],
      ['year 0', { opensAt: '0000-01-01T00:00:00Z' }],
      ['year 1 (read back as 2001)', { opensAt: '0001-01-01T00:00:00Z' }],
      ['year 999', { opensAt: '0999-12-31T23:59:59Z' }],
      ['before 1970', { opensAt: '1969-12-31T23:59:59.999999Z' }],
      ['year 9999', { announceAt: '9999-12-31T23:59:59Z' }],
      ['7 fraction digits', { opensAt: '2030-01-01T04:00:00.1234567Z' }],
      ['leap second', { announceAt: '2030-06-30T23:59:60Z' }],
      ['Feb 29 of a common year', { announceAt: '2031-02-29T00:00:00Z' }],
      ['hour 24', { announceAt: '2030-01-02T24:00:00Z' }],
      ['no offset: a local time names no instant', { opensAt: '2030-01-01T04:00:00' }],
      ['offset without a colon', { opensAt: '2030-01-01T04:00:00+0000' }],
      ['offset past ±14:00', { opensAt: '2030-01-01T04:00:00-15:00' }],
      ['lower-case separators', { opensAt: '2030-01-01t04:00:00z' }],
      ['a space for T', { opensAt: '2030-01-01 04:00:00Z' }],
      ['a date alone', { opensAt: '2030-01-01' }],
      ['surrounding blanks', { opensAt: ' 2030-01-01T04:00:00Z' }],
      ['blank', { opensAt: ' ' }],
      ['empty', { opensAt: '' }],
    ]
    for (const [label, fields] of refused) {
      const response = await post({ ...window, ...fields })
      t.same([response.statusCode, response.json().code], [400, 'VALIDATION'], label)
    }
    const [[none]] = (await app.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM events')) as [RowDataPacket[], unknown]
    t.equal(none?.n, 0, 'no refused instant reached the table')
    const edges = { opensAt: '1970-01-01T00:00:00+14:00', closesAt: '2030-01-01T04:10:00.123456+09:00', announceAt: '9998-12-31T23:59:59.999-12:00' }
    const created = await post({ ...window, ...edges })
    t.equal(created.statusCode, 201, 'the first and last instants of the range, any offset')
    const stored = { opensAt: '1969-12-31T10:00:00.000Z', closesAt: '2029-12-31T19:10:00.123Z', announceAt: '9999-01-01T11:59:59.999Z' }
    t.match(created.json(), stored)
    t.match((await app.inject(`/events/${created.json().id}`)).json(), stored, 'read back as the same instants')
  },
)

t.test('an application is stamped, committed, and answered 201 with its id', async (t) => {
  const { app } = await startApp(t)
  const eventId = await createEvent(app)
  const response = await apply(app, eventId, '+82 10-1111-2222', '  Kim  ')
  t.equal(response.statusCode, 201)
  const { applicationId, receivedAt } = response.json()
  t.match(receivedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'microsecond arrival stamp')
  const [rows] = await app.pool.query<RowDataPacket[]>(
    'SELECT id, name, phone, received_at, replica_id, replica_seq FROM event_applications WHERE event_id = ?',
    [eventId],
  )
  t.equal(rows.length, 1)
  t.same(
    { id: uuidFromBytes(rows[0]?.id), name: rows[0]?.name, phone: rows[0]?.phone, replica: uuidFromBytes(rows[0]?.replica_id) },
    { id: applicationId, name: 'Kim', phone: '01011112222', replica: app.membership.id },
  )
  t.equal((rows[0]?.received_at as Date | undefined)?.toISOString(), `${receivedAt.slice(0, 23)}Z`)
  t.match(response.json().receipt, /^[\w-]{22}$/, 'and its receipt')
  const status = await app.inject({ url: `/events/${eventId}/applications/${applicationId}`, headers: { 'application-receipt': response.json().receipt } })
  t.same(status.json(), { applicationId, status: 'PENDING' })
})

t.test('one entry per phone: every spelling of a number is the same applicant', async (t) => {
  const { app } = await startApp(t)
  const eventId = await createEvent(app)
  t.equal((await apply(app, eventId, '010-3333-4444')).statusCode, 201)
  for (const spelling of ['01033334444', '010 3333 4444', '+82 10 3333 4444', '0082-10-3333-4444']) {
    const response = await apply(app, eventId, spelling)
    t.same([response.statusCode, response.json().code], [409, 'DUPLICATE_APPLICATION'], spelling)
  }
  const other = await createEvent(app)
  t.equal((await apply(app, other, '010-3333-4444')).statusCode, 201, 'the same phone may enter another event')
  const [[count]] = (await app.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM event_applications WHERE event_id = ?', [eventId])) as [
    RowDataPacket[],
    unknown,
  ]
  t.equal(count?.n, 1)
})

t.test('one entry per line: a legacy 01X number with its exchange zero-padded is the same applicant', async (t) => {
  const { app } = await startApp(t)
  const eventId = await createEvent(app)
  t.equal((await apply(app, eventId, '011-785-5699')).statusCode, 201)
  const again = await apply(app, eventId, '011-0785-5699')
  t.same([again.statusCode, again.json().code], [409, 'DUPLICATE_APPLICATION'])
  const [rows] = await app.pool.query<RowDataPacket[]>('SELECT phone FROM event_applications WHERE event_id = ?', [eventId])
  t.same(
    rows.map((row) => row.phone),
    ['0117855699'],
  )
})

t.test('a retry after a lost 201 gets 409 naming its own application, so it can find it', async (t) => {
  const { app } = await startApp(t)
  const eventId = await createEvent(app)
  // The first answer is the one the client never received; the retry spells the number its own way.
  const lost = await apply(app, eventId, '010-7777-8888')
  t.equal(lost.statusCode, 201)
  const retry = await apply(app, eventId, '+82 10 7777 8888')
  const { applicationId } = lost.json()
  t.same(
    [retry.statusCode, retry.json()],
    [409, { code: 'DUPLICATE_APPLICATION', message: 'this phone number has already applied to this event', applicationId }],
  )
  t.equal(retry.headers.location, `/events/${eventId}/applications/${applicationId}`)
  t.equal(
    (await app.inject({ url: retry.headers.location as string, headers: { 'application-receipt': lost.json().receipt } })).json().status,
    'PENDING',
    'the retry finds its application',
  )
  // Two sends of one phone at once (one group commit): the refused one names the stored one.
  const both = await Promise.all([apply(app, eventId, phoneOf(1)), apply(app, eventId, phoneOf(1))])
  t.same(both.map((r) => r.statusCode).sort(), [201, 409])
  t.same(
    both.map((r) => r.json().applicationId),
    Array(2).fill(both.find((r) => r.statusCode === 201)?.json().applicationId),
    'the 409 carries the 201 id',
  )
})

t.test('before opensAt 403, after closesAt 410, unknown event 404', async (t) => {
  const { app } = await startApp(t)
  const future = await createEvent(app, { opensInS: 3600, closesInS: 7200, announceInS: 9000 })
  const past = await createEvent(app, { opensInS: -7200, closesInS: -3600 })
  t.same([(await apply(app, future, phoneOf(1))).statusCode, (await apply(app, future, phoneOf(1))).json().code], [403, 'EVENT_NOT_OPEN'])
  t.same([(await apply(app, past, phoneOf(1))).statusCode, (await apply(app, past, phoneOf(1))).json().code], [410, 'EVENT_CLOSED'])
  t.same([(await apply(app, 999_999, phoneOf(1))).statusCode, (await apply(app, 999_999, phoneOf(1))).json().code], [404, 'EVENT_NOT_FOUND'])
  t.match((await app.inject('/metrics')).body, /event_apply_directory_entries\{kind="missing"[^}]*\} 1\n/, 'the unknown id is remembered once')
  const [[count]] = (await app.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM event_applications')) as [RowDataPacket[], unknown]
  t.equal(count?.n, 0, 'nothing stored')
})

t.test('after the quota is filled, a stored applicant retrying still gets 409 with its application id, a newcomer 410', async (t) => {
  const { app } = await startApp(t, { EVENT_REFRESH_MS: '60000' })
  const eventId = await createEvent(app, { quota: 2 })
  const winners = [await apply(app, eventId, phoneOf(1)), await apply(app, eventId, phoneOf(2))]
  t.same(
    winners.map((r) => r.statusCode),
    [201, 201],
  )
  const newcomer = await apply(app, eventId, phoneOf(3))
  t.same([newcomer.statusCode, newcomer.json().code], [410, 'EVENT_CLOSED'], 'the quota is filled')
  // Each winner lost its 201 and retries, one with another spelling of its number.
  for (const [i, phone] of [phoneOf(1), `+82 ${phoneOf(2).slice(1)}`].entries()) {
    const retry = await apply(app, eventId, phone)
    const { applicationId } = winners[i]!.json()
    t.same([retry.statusCode, retry.json().code, retry.json().applicationId], [409, 'DUPLICATE_APPLICATION', applicationId], phone)
    t.equal(retry.headers.location, `/events/${eventId}/applications/${applicationId}`)
  }
})

t.test('once the quota is known committed, later arrivals get 410 and write nothing; their duplicate checks share statements', async (t) => {
  const { app } = await startApp(t, { EVENT_REFRESH_MS: '60000', HEARTBEAT_MS: '60000' })
  const eventId = await createEvent(app, { quota: 3 })
  for (const n of [1, 2, 3]) t.equal((await apply(app, eventId, phoneOf(n))).statusCode, 201)
  // Spy on the real pool: every statement and connection taken from here on is recorded.
  const statements: string[] = []
  const { query, execute, getConnection } = app.pool
  app.pool.query = ((...args: Parameters<typeof query>) => {
    statements.push(typeof args[0] === 'string' ? args[0] : args[0].sql)
    return query.apply(app.pool, args)
  }) as typeof query
  app.pool.execute = ((...args: Parameters<typeof execute>) => {
    statements.push('execute')
    return execute.apply(app.pool, args)
  }) as typeof execute
  app.pool.getConnection = (() => {
    statements.push('getConnection')
    return getConnection.apply(app.pool)
  }) as typeof getConnection
  t.teardown(() => Object.assign(app.pool, { query, execute, getConnection }))
  const late = await Promise.all(Array.from({ length: 50 }, (_, i) => apply(app, eventId, phoneOf(100 + i))))
  t.same(new Set(late.map((r) => `${r.statusCode} ${r.json().code}`)), new Set(['410 EVENT_CLOSED']))
  t.ok(statements.length > 0, 'the duplicate check asked the database')
  t.same(
    statements.filter((sql) => !/^SELECT id, event_id AS eventId, phone, user_id AS userId FROM event_applications\s/.test(sql)),
    [],
    'only the stored-application lookup: nothing written',
  )
  t.ok(statements.length < late.length, `50 arrivals, ${statements.length} lookup statements`)
})

t.test('a crowd of concurrent applications: group commits, each request learns its own outcome', async (t) => {
  const { app } = await startApp(t, { EVENT_FLUSH_MS: '5' })
  const eventId = await createEvent(app, { quota: 1_000_000 })
  // 300 requests for 250 phones: every 6th is a repeat of an earlier one, sent concurrently.
  const phones = Array.from({ length: 300 }, (_, i) => phoneOf(i % 6 === 5 ? i - 1 : i))
  const responses = await Promise.all(phones.map((phone) => apply(app, eventId, phone)))
  const accepted = responses.filter((r) => r.statusCode === 201)
  t.equal(accepted.length, 250, 'one 201 per distinct phone')
  t.equal(responses.filter((r) => r.json().code === 'DUPLICATE_APPLICATION').length, 50)
  const [rows] = await app.pool.query<RowDataPacket[]>('SELECT id FROM event_applications WHERE event_id = ?', [eventId])
  t.same(new Set(rows.map((r) => uuidFromBytes(r.id))), new Set(accepted.map((r) => r.json().applicationId)), 'exactly the acknowledged rows are stored')
  const metrics = (await app.inject('/metrics')).body
  const flushes = Number(/event_apply_flush_rows_count\{[^}]*\} (\d+)/.exec(metrics)?.[1])
  t.ok(flushes > 0 && flushes < 250, `rows were written in group commits (${flushes} flushes for 250 rows)`)
})

t.test('two replicas, concurrent duplicates of one phone: one entry', async (t) => {
  const { app: a, url } = await startApp(t)
  const { app: b } = await startApp(t, {}, url)
  const eventId = await createEvent(a)
  const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => apply(i % 2 ? a : b, eventId, i % 3 ? '010-5555-6666' : '+82 10 5555 6666')))
  t.equal(responses.filter((r) => r.statusCode === 201).length, 1)
  t.equal(responses.filter((r) => r.json().code === 'DUPLICATE_APPLICATION').length, 39)
})

t.test('winners are the earliest arrivals, not the first commits; results after the draw', async (t) => {
  // Replica `slow` holds its buffer 100 ms; `fast` commits at once. The early arrival at `slow`
  // commits last but must win a quota of 1.
  const { app: slow, url } = await startApp(t, { EVENT_FLUSH_MS: '100' })
  const { app: fast } = await startApp(t, { EVENT_FLUSH_MS: '0' }, url)
  const eventId = await createEvent(slow, { quota: 1 })
  const first = apply(slow, eventId, phoneOf(1))
  // Stamped and buffered at `slow` (not merely sent) before `fast` sees the second.
  t.ok(await eventually(async () => slow.eventApply.desk.backlog() === 1), 'the first is waiting in the slow buffer')
  const second = await apply(fast, eventId, phoneOf(2))
  t.equal(second.statusCode, 201)
  const firstResponse = await first
  t.equal(firstResponse.statusCode, 201)
  const [order] = await slow.pool.query<RowDataPacket[]>('SELECT id FROM event_applications WHERE event_id = ? ORDER BY received_at', [eventId])
  t.equal(uuidFromBytes(order[0]?.id), firstResponse.json().applicationId, 'stamped on arrival, before the later one')

  t.equal((await slow.inject(`/events/${eventId}/winners`)).json().code, 'NOT_ANNOUNCED')
  await endEvent(slow, eventId)
  t.same(await drawWinners(slow.pool, eventId), { outcome: 'DRAWN', winners: 1 })
  const winners = await fast.inject(`/events/${eventId}/winners`)
  t.same(winners.json(), { eventId, winners: [{ rank: 1, name: 'tester', phone: '010-****-0001' }] })
  const statusOf = (created: typeof second) =>
    fast.inject({ url: `/events/${eventId}/applications/${created.json().applicationId}`, headers: { 'application-receipt': created.json().receipt } })
  t.equal((await statusOf(firstResponse)).json().status, 'WON')
  t.equal((await statusOf(second)).json().status, 'LOST')
})

t.test('a full buffer answers 503 with Retry-After instead of queueing without bound', async (t) => {
  const { app } = await startApp(t, { EVENT_BUFFER_LIMIT: '2', EVENT_FLUSH_MS: '100' })
  const eventId = await createEvent(app)
  const responses = await Promise.all([1, 2, 3, 4].map((n) => apply(app, eventId, phoneOf(n))))
  t.same(
    responses.map((r) => r.statusCode),
    [201, 201, 503, 503],
  )
  t.equal(responses[2]?.json().code, 'OVERLOADED')
  t.equal(responses[2]?.headers['retry-after'], '1')
})

t.test('bad input is a 4xx with a code, never a 5xx, and stores nothing', async (t) => {
  const { app } = await startApp(t)
  const eventId = await createEvent(app)
  const post = (payload: string, contentType = 'application/json', url = `/events/${eventId}/applications`) =>
    app.inject({ method: 'POST', url, payload, headers: { 'content-type': contentType } })
  const cases: [string, Awaited<ReturnType<typeof post>>, number, string][] = [
    ['missing phone', await post('{"name":"a"}'), 400, 'VALIDATION'],
    ['missing name', await post('{"phone":"01012345678"}'), 400, 'VALIDATION'],
    ['empty body', await post(''), 400, 'VALIDATION'],
    ['malformed JSON', await post('{"name":'), 400, 'VALIDATION'],
    ['array body', await post('[]'), 400, 'VALIDATION'],
    ['numbers for strings', await post('{"name":1,"phone":1}'), 400, 'VALIDATION'],
    ['control characters in name', await post('{"name":"a\\u0000b","phone":"01012345678"}'), 400, 'VALIDATION'],
    ['name of 51 characters', await post(JSON.stringify({ name: 'x'.repeat(51), phone: '01012345678' })), 400, 'VALIDATION'],
    ['landline', await post('{"name":"a","phone":"02-123-4567"}'), 400, 'VALIDATION'],
    ['injection in phone', await post(JSON.stringify({ name: 'a', phone: "010' OR 1=1 --" })), 400, 'VALIDATION'],
    ['huge body', await post(JSON.stringify({ name: 'x'.repeat(100_000), phone: '01012345678' })), 413, 'PAYLOAD_TOO_LARGE'],
    ['form encoded', await post('name=a&phone=01012345678', 'application/x-www-form-urlencoded'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['text body', await post('hello', 'text/plain'), 400, 'VALIDATION'],
    ['event id not a number', await post('{"name":"a","phone":"01012345678"}', undefined, '/events/abc/applications'), 400, 'VALIDATION'],
    ['event id too large', await post('{"name":"a","phone":"01012345678"}', undefined, '/events/99999999999999999999/applications'), 400, 'VALIDATION'],
    ['negative event id', await post('{"name":"a","phone":"01012345678"}', undefined, '/events/-1/applications'), 400, 'VALIDATION'],
  ]
  for (const [label, response, status, code] of cases) t.same([response.statusCode, response.json().code], [status, code], label)
  const extra = await post('{"name":"a","phone":"010-9999-0001","receivedAt":"2000-01-01T00:00:00Z"}')
  t.equal(extra.statusCode, 201, 'unknown fields are dropped: a client cannot send its own arrival time')
  t.notMatch(extra.json().receivedAt, /^2000/)
  const injected = await apply(app, eventId, '010-9999-0000', "Robert'); DROP TABLE event_applications;--")
  t.equal(injected.statusCode, 201, 'an injection string is a valid name: stored verbatim')
  const [rows] = await app.pool.query<RowDataPacket[]>('SELECT name FROM event_applications WHERE event_id = ?', [eventId])
  t.same(rows.map((r) => r.name).sort(), ["Robert'); DROP TABLE event_applications;--", 'a'])
  const status = await app.inject(`/events/${eventId}/applications/not-a-uuid`)
  t.same([status.statusCode, status.json().code], [400, 'VALIDATION'])
})

t.test('across two replicas: exactly min(quota, n) winners for n below, at and far above the quota', async (t) => {
  const { app: a, url } = await startApp(t)
  const { app: b } = await startApp(t, {}, url)
  for (const n of [3, 5, 60]) {
    const eventId = await createEvent(a, { quota: 5 })
    const responses = await Promise.all(Array.from({ length: n }, (_, i) => apply(i % 2 ? a : b, eventId, phoneOf(i))))
    const acknowledged = responses.filter((r) => r.statusCode === 201).map((r) => r.json().applicationId as string)
    t.ok(acknowledged.length >= Math.min(n, 5), `${acknowledged.length} of ${n} accepted before the early close`)
    await endEvent(a, eventId)
    t.same(await drawWinners(a.pool, eventId), { outcome: 'DRAWN', winners: Math.min(5, n) }, `n = ${n}`)
    const audit = await auditEvent(a.pool, { eventId, acknowledged, expectDrawn: true })
    t.ok(audit.ok, formatAudit(audit))
  }
})

/** Every 201 stored, and once drawn, min(quota, applicants) winners who are the earliest arrivals. */
async function auditAcknowledged(t: Test, app: App, eventId: number, responses: { statusCode: number; json: () => { applicationId?: string } }[]) {
  const acknowledged = responses.filter((r) => r.statusCode === 201).map((r) => r.json().applicationId as string)
  const audit = await auditEvent(app.pool, { eventId, acknowledged, expectDrawn: true })
  t.ok(audit.ok, formatAudit(audit))
}

// The replica's clock and cached closesAt are left 10 minutes behind the database (no refresh):
// the adversary's replica; only the database may decide what the draw sees.
t.test('a flush that decided before the draw but writes after it is refused: no 201 escapes the draw', async (t) => {
  const { app } = await startApp(t, { EVENT_REFRESH_MS: '60000' })
  const eventId = await createEvent(app, { quota: 2 })
  const early = await apply(app, eventId, phoneOf(1))
  t.equal(early.statusCode, 201)
  const flush = holdStatement(t, app.pool, /INTO event_applications\b/)
  const pending = apply(app, eventId, phoneOf(2))
  await flush.reached
  await endEvent(app, eventId)
  t.same(await drawWinners(app.pool, eventId), { outcome: 'DRAWN', winners: 1 }, 'the draw ran while the flush was on its way')
  flush.release()
  const late = await pending
  t.same([late.statusCode, late.json().code], [410, 'EVENT_CLOSED'], 'refused by the database, not by a clock')
  await auditAcknowledged(t, app, eventId, [early, late])
})

t.test('a flush reaching the event while the draw holds it waits for the draw, then is refused', async (t) => {
  const { app } = await startApp(t, { EVENT_REFRESH_MS: '60000' })
  const eventId = await createEvent(app, { quota: 2 })
  const early = await apply(app, eventId, phoneOf(1))
  t.equal(early.statusCode, 201)
  await endEvent(app, eventId)
  // The draw's own connection, held after it locked the event row and before it reads the applications.
  let held: ReturnType<typeof holdStatement> | undefined
  const drawPool = {
    getConnection: async () => {
      const conn = await app.pool.getConnection()
      held = holdStatement(t, conn, /INTO event_winners\b/)
      return conn
    },
  } as unknown as Pool
  const draw = drawWinners(drawPool, eventId)
  t.ok(await eventually(async () => held !== undefined), 'the draw took a connection')
  await held?.reached
  const pending = apply(app, eventId, phoneOf(2))
  t.ok(await eventually(async () => (await lockWaits(app.pool)) > 0, 1_500, 150), 'the flush waits for the event row the draw holds')
  held?.release()
  t.same(await draw, { outcome: 'DRAWN', winners: 1 })
  const late = await pending
  t.same([late.statusCode, late.json().code], [410, 'EVENT_CLOSED'])
  await auditAcknowledged(t, app, eventId, [early, late])
})

t.test('a graceful shutdown writes what is buffered before the pool closes', async (t) => {
  const { app: survivor, url } = await startApp(t)
  const { app } = await startApp(t, { EVENT_FLUSH_MS: '100' }, url)
  const eventId = await createEvent(survivor)
  const pending = Array.from({ length: 20 }, (_, i) => apply(app, eventId, phoneOf(i)))
  // Let the requests reach the buffer, then close while they wait for their group commit.
  await new Promise((resolve) => setTimeout(resolve, 20))
  await app.close()
  const responses = await Promise.all(pending)
  t.same(new Set(responses.map((r) => r.statusCode)), new Set([201]))
  const [[count]] = (await survivor.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM event_applications WHERE event_id = ?', [eventId])) as [
    RowDataPacket[],
    unknown,
  ]
  t.equal(count?.n, 20)
})
