import t, { type Test } from 'tap'
import { v7 as uuidv7 } from 'uuid'
import {
  createPool,
  drawWinners,
  ensureScheduledEvents,
  eventsDueForDraw,
  uuidFromBytes,
  uuidToBytes,
  type Pool,
  type ResultSetHeader,
  type RowDataPacket,
} from '../src/index.ts'
import { dailyEvents } from '@commerce/domain'
import { createTestDatabase } from '../src/testing.ts'

async function database(t: Test): Promise<Pool> {
  const pool = createPool({ url: await createTestDatabase(t), role: 'api' })
  t.teardown(() => pool.end())
  return pool
}

/** A closed, settled event with `applicants` applications stamped 1 ms apart (in reverse insert order). */
async function closedEvent(pool: Pool, quota: number, applicants: number): Promise<{ eventId: number; byArrival: string[] }> {
  const [event] = await pool.query<ResultSetHeader>(
    "INSERT INTO events (title, opens_at, closes_at, winner_quota, announce_at) VALUES ('t', NOW(6) - INTERVAL 1 HOUR, NOW(6) - INTERVAL 1 MINUTE, ?, NOW(6) - INTERVAL 1 MINUTE)",
    [quota],
  )
  const replica = uuidToBytes(uuidv7())
  const rows = Array.from({ length: applicants }, (_, i) => ({ id: uuidv7(), at: new Date(Date.UTC(2030, 0, 1, 4, 0, 0, i)), seq: i + 1 }))
  if (rows.length > 0) {
    // Inserted latest first: the draw must follow arrival stamps, not insertion order.
    await pool.query('INSERT INTO event_applications (id, event_id, name, phone, received_at, replica_id, replica_seq) VALUES ?', [
      [...rows].reverse().map((r) => [uuidToBytes(r.id), event.insertId, 'n', `010${String(10_000_000 + r.seq).slice(-8)}`, r.at, replica, r.seq]),
    ])
  }
  return { eventId: event.insertId, byArrival: rows.map((r) => r.id) }
}

/** The database's clock: the draw's settle check runs on it, so the due check of these tests does too. */
async function databaseNow(pool: Pool): Promise<Date> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT NOW(6) AS now')
  return rows[0]?.now as Date
}

async function winners(pool: Pool, eventId: number): Promise<string[]> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT application_id FROM event_winners WHERE event_id = ? ORDER BY `rank`', [eventId])
  return rows.map((r) => uuidFromBytes(r.application_id))
}

t.test('creating the scheduled events is idempotent across callers', async (t) => {
  const pool = await database(t)
  const events = dailyEvents(new Date('2026-11-22T23:30:00Z'), { time: '13:00', timeZone: 'Asia/Seoul', durationMinutes: 10, winnerQuota: 100 })
  const created = await Promise.all([1, 2, 3].map(() => ensureScheduledEvents(pool, events)))
  t.equal(
    created.reduce((a, b) => a + b, 0),
    2,
    'two events, created once',
  )
  t.equal(await ensureScheduledEvents(pool, events), 0)
})

t.test('the draw: exactly min(quota, applicants) winners, the earliest arrivals, in rank order', async (t) => {
  const pool = await database(t)
  for (const [quota, applicants] of [
    [5, 0],
    [5, 3],
    [5, 5],
    [5, 40],
  ] as const) {
    const { eventId, byArrival } = await closedEvent(pool, quota, applicants)
    t.same(await drawWinners(pool, eventId), { outcome: 'DRAWN', winners: Math.min(quota, applicants) }, `quota ${quota}, ${applicants} applicants`)
    t.same(await winners(pool, eventId), byArrival.slice(0, quota))
  }
})

t.test('the draw is idempotent and happens once under concurrent callers', async (t) => {
  const pool = await database(t)
  const { eventId, byArrival } = await closedEvent(pool, 10, 30)
  const results = await Promise.all([1, 2, 3, 4].map(() => drawWinners(pool, eventId)))
  t.same(results.map((r) => r.outcome).sort(), ['ALREADY_DRAWN', 'ALREADY_DRAWN', 'ALREADY_DRAWN', 'DRAWN'])
  t.same(await drawWinners(pool, eventId), { outcome: 'ALREADY_DRAWN', winners: 10 })
  t.same(await winners(pool, eventId), byArrival.slice(0, 10))
  t.same(await eventsDueForDraw(pool, await databaseNow(pool)), [], 'a drawn event is no longer due')
})

t.test('ties on the arrival stamp are broken by replica id, then the replica sequence', async (t) => {
  const pool = await database(t)
  const { eventId } = await closedEvent(pool, 2, 0)
  const [a, b, c] = ['00000000-0000-7000-8000-00000000000a', '00000000-0000-7000-8000-00000000000b', '00000000-0000-7000-8000-00000000000c']
  const at = '2030-01-01 04:00:00.000001'
  await pool.query('INSERT INTO event_applications (id, event_id, name, phone, received_at, replica_id, replica_seq) VALUES ?', [
    [
      [uuidToBytes(a!), eventId, 'n', '01000000001', at, uuidToBytes(c!), 9],
      [uuidToBytes(b!), eventId, 'n', '01000000002', at, uuidToBytes(a!), 7],
      [uuidToBytes(c!), eventId, 'n', '01000000003', at, uuidToBytes(a!), 3],
    ],
  ])
  await drawWinners(pool, eventId)
  t.same(await winners(pool, eventId), [c, b])
})

t.test('no draw before the event has closed and settled; none for an unknown event', async (t) => {
  const pool = await database(t)
  const { eventId } = await closedEvent(pool, 1, 1)
  await pool.query('UPDATE events SET closes_at = NOW(6) - INTERVAL 1 SECOND WHERE id = ?', [eventId])
  t.same(await drawWinners(pool, eventId), { outcome: 'STILL_OPEN' }, 'in-flight group commits may still land')
  t.same(await eventsDueForDraw(pool, await databaseNow(pool)), [])
  await pool.query('UPDATE events SET closes_at = NOW(6) - INTERVAL 1 MINUTE WHERE id = ?', [eventId])
  t.same(await eventsDueForDraw(pool, await databaseNow(pool)), [eventId])
  t.same(await drawWinners(pool, 987_654), { outcome: 'NOT_FOUND' })
})

t.test('an event is due for its draw from its announcement on, at the instant the caller gives', async (t) => {
  const pool = await database(t)
  const [event] = await pool.query<ResultSetHeader>(
    "INSERT INTO events (title, opens_at, closes_at, winner_quota, announce_at) VALUES ('t', '2031-03-01 04:00:00', '2031-03-01 04:10:00', 1, '2031-03-02 04:00:00')",
  )
  t.same(await eventsDueForDraw(pool, new Date('2031-03-02T03:59:59.999Z')), [], 'a millisecond before the announcement')
  t.same(await eventsDueForDraw(pool, new Date('2031-03-02T04:00:00Z')), [event.insertId], 'at the announcement')
  await pool.query('UPDATE events SET announce_at = closes_at WHERE id = ?', [event.insertId])
  t.same(await eventsDueForDraw(pool, new Date('2031-03-01T04:10:04.999Z')), [], 'announced at the close: not before the close has settled')
  t.same(await eventsDueForDraw(pool, new Date('2031-03-01T04:10:05Z')), [event.insertId])
})
