import t, { type Test } from 'tap'
import { v7 as uuidv7 } from 'uuid'
import { createPool, type Pool, type ResultSetHeader, type RowDataPacket } from '@commerce/db'
import { createTestDatabase } from '@commerce/db/testing'
import type { Application, EventState, WriteOutcome } from '@commerce/event-apply'
import { buildApp } from '@commerce/event-apply'
import { loadServiceConfig } from '@commerce/event-apply/config'
import { testEnv } from '@commerce/kit/testing'
import { auditLocking, createLockingTable, lockingTable, lockingWriter } from '../../src/baselines/locking-apply.ts'

/** A migrated database with the baseline's table, and a pool with the API's settings (READ COMMITTED sessions). */
async function setup(t: Test): Promise<{ url: string; pool: Pool }> {
  const url = await createTestDatabase(t)
  const pool = createPool({ url, role: 'api' })
  t.teardown(() => pool.end())
  await createLockingTable(pool)
  return { url, pool }
}

const phoneOf = (n: number) => `010${String(10_000_000 + n).slice(-8)}`
const stateOf = (eventId: number, winnerQuota: number): EventState => ({
  event: {
    id: eventId,
    title: 'baseline',
    opensAt: new Date(0),
    closesAt: new Date(8.64e15),
    winnerQuota,
    announceAt: new Date(8.64e15),
    status: 'SCHEDULED',
    entry: 'PUBLIC',
  },
  committed: 0,
})
let seq = 0
function applicationOf(eventId: number, phone: string): Application {
  seq += 1
  return { id: uuidv7(), eventId, name: 'tester', phone, userId: null, receivedAtMicros: Date.now() * 1000, replicaId: uuidv7(), replicaSeq: seq }
}

/**
 * The pool, except that the first statement matching `pattern` on any of its connections waits
 * until released: one applicant stopped inside its transaction, at a known point.
 */
function holdingPool(t: Test, pool: Pool, pattern: RegExp) {
  let reach = () => {}
  let release = () => {}
  const reached = new Promise<void>((resolve) => (reach = resolve))
  const released = new Promise<void>((resolve) => (release = resolve))
  t.teardown(() => release())
  let held = false
  const getConnection = async () => {
    const conn = await pool.getConnection()
    const query = conn.query.bind(conn)
    conn.query = (async (...args: Parameters<typeof query>) => {
      if (!held && pattern.test(String(args[0]))) {
        held = true
        reach()
        await released
      }
      return query(...args)
    }) as typeof query
    return conn
  }
  return { pool: { ...pool, getConnection } as unknown as Pool, reached, release }
}

/** Sessions of this database waiting for a row lock now (InnoDB refreshes INNODB_TRX at most every 100 ms). */
async function lockWaits(pool: Pool): Promise<number> {
  const [[row]] = (await pool.query<RowDataPacket[]>(
    `SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
     WHERE t.trx_state = 'LOCK WAIT' AND p.DB = DATABASE()`,
  )) as [RowDataPacket[], unknown]
  return Number(row?.n)
}

/** Until `second` settles or waits for a lock the held first applicant holds (bounded). */
async function secondBlockedOrDone(pool: Pool, second: Promise<unknown>): Promise<void> {
  let settled = false
  void second.then(
    () => (settled = true),
    () => (settled = true),
  )
  const deadline = Date.now() + 60_000
  while (!settled && (await lockWaits(pool)) === 0) {
    if (Date.now() > deadline) throw new Error('the second applicant neither finished nor waited for a lock within 60 s')
    await new Promise((resolve) => setTimeout(resolve, 150))
  }
}

const rowsOf = async (pool: Pool, eventId: number) => {
  const [rows] = await pool.query<RowDataPacket[]>(`SELECT phone FROM ${lockingTable} WHERE event_id = ? ORDER BY phone`, [eventId])
  return rows.map((row) => String(row.phone))
}

// A race held open at the worst point: the first applicant has looked its phone up (found
// nothing) and waits before it counts and inserts, while the second runs. Under READ COMMITTED
// the second's FOR UPDATE locks nothing, finds nothing and inserts; the first then inserts too.
for (const table of ['empty', 'holding other rows'] as const) {
  t.test(`two sends of one phone at once store one row (table ${table})`, async (t) => {
    const { pool } = await setup(t)
    const eventId = 7
    if (table === 'holding other rows')
      for (const n of [1, 2, 3]) await lockingWriter({ pool }).write(applicationOf(eventId, phoneOf(n)), stateOf(eventId, 100))
    const holder = holdingPool(t, pool, /^SELECT COUNT/)
    const first = lockingWriter({ pool: holder.pool }).write(applicationOf(eventId, phoneOf(9)), stateOf(eventId, 100))
    await holder.reached
    const second = lockingWriter({ pool }).write(applicationOf(eventId, phoneOf(9)), stateOf(eventId, 100))
    await secondBlockedOrDone(pool, second)
    holder.release()
    const outcomes = (await Promise.all([first, second])).map((o: WriteOutcome) => o.kind).sort()
    t.same(outcomes, ['duplicate', 'inserted'])
    t.same(
      (await rowsOf(pool, eventId)).filter((phone) => phone === phoneOf(9)),
      [phoneOf(9)],
      'one row for the phone',
    )
  })
}

t.test('two applicants at once for the last place: the quota is not exceeded', async (t) => {
  const { pool } = await setup(t)
  const eventId = 8
  await lockingWriter({ pool }).write(applicationOf(eventId, phoneOf(1)), stateOf(eventId, 2))
  const holder = holdingPool(t, pool, /^INSERT/)
  const first = lockingWriter({ pool: holder.pool }).write(applicationOf(eventId, phoneOf(2)), stateOf(eventId, 2))
  await holder.reached
  const second = lockingWriter({ pool }).write(applicationOf(eventId, phoneOf(3)), stateOf(eventId, 2))
  await secondBlockedOrDone(pool, second)
  holder.release()
  t.same(
    (await Promise.all([first, second])).map((o) => o.kind),
    ['inserted', 'full'],
  )
  t.same(await rowsOf(pool, eventId), [phoneOf(1), phoneOf(2)])
})

t.test('through event-apply: the same contract as the group commit, and a flood of repeats stores one row per phone', async (t) => {
  const { url, pool } = await setup(t)
  const app = await buildApp({ config: loadServiceConfig(testEnv(url)), logger: false, applicationWriter: lockingWriter })
  t.teardown(() => app.close())
  await app.ready()
  const [created] = await pool.query<ResultSetHeader>(
    `INSERT INTO events (title, opens_at, closes_at, winner_quota, announce_at)
     VALUES ('baseline', NOW(6) - INTERVAL 1 MINUTE, NOW(6) + INTERVAL 10 MINUTE, 5, NOW(6) + INTERVAL 1 HOUR)`,
  )
  const eventId = created.insertId
  const apply = (phone: string) => app.inject({ method: 'POST', url: `/events/${eventId}/applications`, payload: { name: 'tester', phone } })

  // A lost 201: the retry, spelling the number its own way, learns the stored application.
  const lost = await apply('010-7777-8888')
  t.equal(lost.statusCode, 201)
  const retry = await apply('+82 10 7777 8888')
  t.same(
    [retry.statusCode, retry.json()],
    [409, { code: 'DUPLICATE_APPLICATION', message: 'this phone number has already applied to this event', applicationId: lost.json().applicationId }],
  )

  // 4 phones × 10 sends, all at once: one 201 per phone, every repeat a 409 naming it; then the quota (5) is full.
  const sends = Array.from({ length: 40 }, (_, i) => phoneOf(100 + (i % 4)))
  const answers = await Promise.all(sends.map((phone) => apply(phone)))
  const byPhone = new Map<string, number[]>()
  for (const [i, answer] of answers.entries()) byPhone.set(sends[i]!, [...(byPhone.get(sends[i]!) ?? []), answer.statusCode])
  for (const [phone, statuses] of byPhone) t.same(statuses.sort(), [201, ...Array(9).fill(409)], phone)
  const full = await apply(phoneOf(200))
  t.same([full.statusCode, full.json().code], [410, 'EVENT_CLOSED'])
  const audit = await auditLocking(pool, { eventId, quota: 5, acknowledged: 5 })
  t.ok(audit.ok, audit.detail)
})
