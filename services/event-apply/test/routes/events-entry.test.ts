import t from 'tap'
import { bearer } from '@commerce/kit/testing'
import { apply, createEvent, endEvent, phoneOf, startApp } from '../helpers.ts'
import { drawWinners, type RowDataPacket } from '@commerce/db'

t.test('a phone number alone does not reveal anyone’s result: reading it needs the 201’s receipt', async (t) => {
  const { app } = await startApp(t)
  const eventId = await createEvent(app, { quota: 1 })
  const victim = await apply(app, eventId, phoneOf(1), 'victim')
  t.equal(victim.statusCode, 201)
  // The attacker knows the number and nothing else.
  const probe = await apply(app, eventId, phoneOf(1), 'attacker')
  t.equal(probe.statusCode, 409)
  const { applicationId } = probe.json()
  t.equal(applicationId, victim.json().applicationId, 'a public event still names the stored application (the retry promise)')
  t.notOk('receipt' in probe.json(), 'but never its receipt: a public event cannot tell the owner from a stranger')
  await endEvent(app, eventId)
  t.same(await drawWinners(app.pool, eventId), { outcome: 'DRAWN', winners: 1 })
  const status = `/events/${eventId}/applications/${applicationId}`
  for (const [what, headers] of [
    ['no receipt', {}],
    ['a made-up receipt', { 'application-receipt': 'A'.repeat(22) }],
    ['another application’s receipt', { 'application-receipt': (await apply(app, await createEvent(app), phoneOf(2))).json().receipt }],
  ] as const) {
    const answer = await app.inject({ url: status, headers })
    t.same([answer.statusCode, answer.json().code], [404, 'APPLICATION_NOT_FOUND'], what)
  }
  const own = await app.inject({ url: status, headers: { 'application-receipt': victim.json().receipt } })
  t.same(own.json(), { applicationId, status: 'WON' }, 'the 201’s receipt reads the result')
})

t.test('an ACCOUNT event: a bearer token is required, one entry per account and per phone, the receipt only to the owner', async (t) => {
  const { app } = await startApp(t)
  const eventId = await createEvent(app, { quota: 3, entry: 'ACCOUNT' })
  const as = (userId: number) => bearer(userId)
  const stored = async () =>
    (await app.pool.query<RowDataPacket[]>('SELECT phone, user_id FROM event_applications WHERE event_id = ? ORDER BY phone', [eventId]))[0].map(
      (row) => `${row.phone}/${row.user_id}`,
    )

  for (const [what, headers] of [
    ['no token', {}],
    ['a malformed token', { authorization: 'Bearer nope' }],
  ] as const) {
    const refused = await apply(app, eventId, phoneOf(1), 'anon', headers)
    t.same([refused.statusCode, refused.json().code], [401, 'UNAUTHORIZED'], what)
  }
  t.same(await stored(), [], 'nothing stored without an account')

  const first = await apply(app, eventId, phoneOf(1), 'seven', as(7))
  t.equal(first.statusCode, 201)
  const { applicationId, receipt } = first.json()

  const otherPhone = await apply(app, eventId, phoneOf(2), 'seven again', as(7))
  t.same(
    [otherPhone.statusCode, otherPhone.json()],
    [409, { code: 'DUPLICATE_APPLICATION', message: 'this phone number has already applied to this event', applicationId, receipt }],
    'the same account with another phone: its own entry, and its receipt (it proved it is the owner)',
  )
  const takenPhone = await apply(app, eventId, phoneOf(1), 'eight', as(8))
  t.same(
    [takenPhone.statusCode, takenPhone.json()],
    [409, { code: 'PHONE_ALREADY_ENTERED', message: 'this phone number has already applied to this event with another account' }],
    'another account with that phone learns nothing about the entry',
  )
  t.equal((await apply(app, eventId, phoneOf(3), 'eight', as(8))).statusCode, 201, 'with its own phone it enters')
  t.same(await stored(), [`${phoneOf(1)}/7`, `${phoneOf(3)}/8`])

  // Two phones of one account in one group commit: one entry.
  const both = await Promise.all([apply(app, eventId, phoneOf(4), 'nine', as(9)), apply(app, eventId, phoneOf(5), 'nine', as(9))])
  t.same(both.map((r) => r.statusCode).sort(), [201, 409])
  const won = both.find((r) => r.statusCode === 201)!.json()
  t.same(
    both.map((r) => r.json().applicationId),
    [won.applicationId, won.applicationId],
  )
  t.same(
    both.map((r) => r.json().receipt),
    [won.receipt, won.receipt],
  )

  // The quota (3) is filled now: the promise of the 409 still holds, and still only for the owner.
  const late = await apply(app, eventId, phoneOf(6), 'ten', as(10))
  t.same([late.statusCode, late.json().code], [410, 'EVENT_CLOSED'])
  const retry = await apply(app, eventId, phoneOf(1), 'seven', as(7))
  t.same([retry.statusCode, retry.json().applicationId, retry.json().receipt], [409, applicationId, receipt], 'the owner’s retry after the close')
  const stranger = await apply(app, eventId, phoneOf(1), 'eleven', as(11))
  t.same([stranger.statusCode, stranger.json()], [409, { code: 'PHONE_ALREADY_ENTERED', message: takenPhone.json().message }])
  t.same(await stored(), [`${phoneOf(1)}/7`, `${phoneOf(3)}/8`, `${both[0]!.statusCode === 201 ? phoneOf(4) : phoneOf(5)}/9`], 'three entries, none twice')
})

t.test('POST /events is an ACCOUNT event unless it says PUBLIC', async (t) => {
  const { app } = await startApp(t)
  const window = {
    title: 'Lunch draw',
    opensAt: '2030-01-01T04:00:00Z',
    closesAt: '2030-01-01T04:10:00Z',
    winnerQuota: 100,
    announceAt: '2030-01-02T04:00:00Z',
  }
  const admin = bearer(1, 'admin')
  t.equal((await app.inject({ method: 'POST', url: '/events', payload: window, headers: admin })).json().entry, 'ACCOUNT')
  t.equal((await app.inject({ method: 'POST', url: '/events', payload: { ...window, entry: 'PUBLIC' }, headers: admin })).json().entry, 'PUBLIC')
  const odd = await app.inject({ method: 'POST', url: '/events', payload: { ...window, entry: 'constructor' }, headers: admin })
  t.same([odd.statusCode, odd.json().code], [400, 'VALIDATION'])
})

t.test('one account’s burst of applications is refused 429 at its replica; other accounts pass', async (t) => {
  const { app } = await startApp(t, { EVENT_ACCOUNT_RATE_PER_S: '0.01', EVENT_ACCOUNT_BURST: '3' })
  const eventId = await createEvent(app, { entry: 'ACCOUNT' })
  const bot = await Promise.all(Array.from({ length: 10 }, (_, i) => apply(app, eventId, phoneOf(100 + i), 'bot', bearer(66))))
  t.same(bot.map((r) => r.statusCode).sort(), [201, 409, 409, ...Array(7).fill(429)], 'the burst of 3 is served (one entry), the other 7 refused')
  const refused = bot.find((r) => r.statusCode === 429)!
  t.same([refused.json().code, refused.headers['retry-after']], ['TOO_MANY_REQUESTS', '1'])
  const others = await Promise.all(Array.from({ length: 10 }, (_, i) => apply(app, eventId, phoneOf(200 + i), 'human', bearer(1_000 + i))))
  t.same(
    others.map((r) => r.statusCode),
    Array(10).fill(201),
    'every other account is served',
  )
})
