import type { Pool, ResultSetHeader, RowDataPacket } from 'mysql2/promise'
import { drawSettleMs, type ScheduledEvent } from '@commerce/domain'
import { inTransaction } from './transaction.ts'

/** Creates the events that do not exist yet; any number of daemons may call it at once. */
export async function ensureScheduledEvents(pool: Pool, events: readonly ScheduledEvent[]): Promise<number> {
  if (events.length === 0) return 0
  const [result] = await pool.query<ResultSetHeader>(
    'INSERT IGNORE INTO events (title, opens_at, closes_at, winner_quota, announce_at, schedule_key, entry) VALUES ?',
    [events.map((e) => [e.title, e.opensAt, e.closesAt, e.winnerQuota, e.announceAt, e.scheduleKey, e.entry])],
  )
  return result.affectedRows
}

/** Events whose announcement is due at `now` and that have not been drawn. */
export async function eventsDueForDraw(pool: Pool, now: Date): Promise<number[]> {
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT id FROM events WHERE status = 'SCHEDULED' AND announce_at <= ? AND closes_at <= ? - INTERVAL ? MICROSECOND ORDER BY id`,
    [now, now, drawSettleMs * 1000],
  )
  return rows.map((row) => Number(row.id))
}

export type DrawResult =
  | { outcome: 'DRAWN'; winners: number }
  | { outcome: 'ALREADY_DRAWN'; winners: number }
  | { outcome: 'NOT_FOUND' }
  | { outcome: 'STILL_OPEN' }

/**
 * Draws the winners: the first `winner_quota` applications by (received_at, replica_id,
 * replica_seq). The event row is locked, so concurrent draws (several daemons, an admin
 * request) run one after the other and the second finds it drawn; unique (event_id, rank)
 * makes even a repeated insert change nothing. Every group commit reads the same row with a
 * shared lock and writes only while it is SCHEDULED, so a flush in flight commits before the
 * draw reads the applications, and any later one finds the event ANNOUNCED and writes nothing.
 */
export async function drawWinners(pool: Pool, eventId: number): Promise<DrawResult> {
  const result = await inTransaction<DrawResult>(pool, async (conn) => {
    const [events] = await conn.query<RowDataPacket[]>(
      'SELECT status, winner_quota, closes_at <= NOW(6) - INTERVAL ? MICROSECOND AS settled FROM events WHERE id = ? FOR UPDATE',
      [drawSettleMs * 1000, eventId],
    )
    const event = events[0]
    if (!event) return { outcome: 'NOT_FOUND' }
    if (event.status === 'ANNOUNCED') {
      const [[count]] = (await conn.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM event_winners WHERE event_id = ?', [eventId])) as [
        RowDataPacket[],
        unknown,
      ]
      return { outcome: 'ALREADY_DRAWN', winners: Number(count?.n) }
    }
    if (!Number(event.settled)) return { outcome: 'STILL_OPEN' }
    // Reads the arrival index in order and stops after the quota: O(quota), not O(applicants).
    const [inserted] = await conn.query<ResultSetHeader>(
      `INSERT IGNORE INTO event_winners (event_id, \`rank\`, application_id)
       SELECT event_id, ROW_NUMBER() OVER (ORDER BY received_at, replica_id, replica_seq), id
       FROM (SELECT event_id, received_at, replica_id, replica_seq, id FROM event_applications
             WHERE event_id = ? ORDER BY received_at, replica_id, replica_seq LIMIT ?) AS earliest`,
      [eventId, Number(event.winner_quota)],
    )
    await conn.query(`UPDATE events SET status = 'ANNOUNCED' WHERE id = ?`, [eventId])
    return { outcome: 'DRAWN', winners: inserted.affectedRows }
  })
  // inTransaction returns null only when the work does; this work always answers.
  return result ?? { outcome: 'NOT_FOUND' }
}
