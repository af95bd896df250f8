import t, { type Test } from 'tap'
import { v7 as uuidv7 } from 'uuid'
import { createPool, drawWinners, uuidToBytes, type Pool, type ResultSetHeader } from '@commerce/db'
import { createTestDatabase } from '@commerce/db/testing'
import { auditEvent, formatAudit } from '../src/index.ts'

/** A correct drawn event: 6 applicants a ms apart, quota 3; returns the ids in arrival order. */
async function drawnEvent(t: Test): Promise<{ pool: Pool; eventId: number; ids: string[] }> {
  const pool = createPool({ url: await createTestDatabase(t), role: 'api' })
  t.teardown(() => pool.end())
  const [event] = await pool.query<ResultSetHeader>(
    "INSERT INTO events (title, opens_at, closes_at, winner_quota, announce_at) VALUES ('t', NOW(6) - INTERVAL 1 HOUR, NOW(6) - INTERVAL 1 MINUTE, 3, NOW(6) - INTERVAL 1 MINUTE)",
  )
  const ids = Array.from({ length: 6 }, () => uuidv7())
  const replica = uuidToBytes(uuidv7())
  await pool.query('INSERT INTO event_applications (id, event_id, name, phone, received_at, replica_id, replica_seq) VALUES ?', [
    ids.map((id, i) => [uuidToBytes(id), event.insertId, 'n', `0101000000${i}`, new Date(Date.UTC(2030, 0, 1, 4, 0, 0, i)), replica, i + 1]),
  ])
  return { pool, eventId: event.insertId, ids }
}

t.test('a correct event passes every check, before and after the draw', async (t) => {
  const { pool, eventId, ids } = await drawnEvent(t)
  const before = await auditEvent(pool, { eventId, acknowledged: ids })
  t.ok(before.ok, formatAudit(before))
  t.notOk((await auditEvent(pool, { eventId, expectDrawn: true })).ok, 'a draw that was expected but did not happen fails')
  await drawWinners(pool, eventId)
  const after = await auditEvent(pool, { eventId, acknowledged: ids, expectDrawn: true })
  t.ok(after.ok, formatAudit(after))
  t.equal(after.checks.length, 4)
})

t.test('an acknowledged application that is not stored fails', async (t) => {
  const { pool, eventId, ids } = await drawnEvent(t)
  const result = await auditEvent(pool, { eventId, acknowledged: [...ids, uuidv7()] })
  t.match(
    result.checks.find((c) => !c.ok),
    { name: '4. every acknowledged (201) application is stored', detail: /^1 missing/ },
  )
})

t.test('two applications with one phone fail', async (t) => {
  const { pool, eventId } = await drawnEvent(t)
  // Only a broken schema could let this happen; the test removes the key to prove the check sees it.
  await pool.query('ALTER TABLE event_applications DROP INDEX uq_event_applications_phone')
  await pool.query(
    "INSERT INTO event_applications (id, event_id, name, phone, received_at, replica_id, replica_seq) VALUES (?, ?, 'n', '01010000000', NOW(6), ?, 99)",
    [uuidToBytes(uuidv7()), eventId, uuidToBytes(uuidv7())],
  )
  t.match(
    (await auditEvent(pool, { eventId })).checks.find((c) => !c.ok),
    { name: '4. one application per phone', detail: /01010000000×2/ },
  )
})

t.test('a winner who is not among the earliest, or a missing or extra winner, fails', async (t) => {
  const { pool, eventId, ids } = await drawnEvent(t)
  await drawWinners(pool, eventId)
  await pool.query('UPDATE event_winners SET application_id = ? WHERE event_id = ? AND `rank` = 2', [uuidToBytes(ids[5]!), eventId])
  t.same(
    (await auditEvent(pool, { eventId })).checks.filter((c) => !c.ok).map((c) => c.name),
    ['4. winners are the earliest arrivals, in rank order'],
  )
  await pool.query('DELETE FROM event_winners WHERE event_id = ? AND `rank` = 2', [eventId])
  t.same(
    (await auditEvent(pool, { eventId })).checks.filter((c) => !c.ok).map((c) => c.name),
    ['4. winners = min(quota, applicants)', '4. winners are the earliest arrivals, in rank order'],
  )
  await pool.query('INSERT INTO event_winners (event_id, `rank`, application_id) VALUES (?, 2, ?), (?, 4, ?)', [
    eventId,
    uuidToBytes(ids[1]!),
    eventId,
    uuidToBytes(ids[3]!),
  ])
  t.same(
    (await auditEvent(pool, { eventId })).checks.filter((c) => !c.ok).map((c) => c.name),
    ['4. winners = min(quota, applicants)', '4. winners are the earliest arrivals, in rank order'],
    'an extra rank',
  )
})
