import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise'
import { drawSettleMs, type ScheduledEvent } from '@commerce/domain'
import { isDeadlock } from './errors.ts'
import { inTransaction } from './transaction.ts'
import { catchUp } from './topology.ts'

/** Gate rows per event (event_flush_gates): flushes of different replicas rarely share one, so they seldom conflict with each other. */
export const flushGateSlots = 16

/** The gate slot of a replica's flushes: a few random bits of its UUIDv7 id (the last hex digit). */
export const flushGateSlot = (replicaId: string): number => Number.parseInt(replicaId.slice(-1), 16) % flushGateSlots

/**
 * Writes the gate row of `slots` for each event. A flush writes its replica's slot; the draw writes
 * every slot: each flush and the draw then share a written key, so on Galera one of two that
 * overlap is refused by certification (1213), where row locks, local to one node, order nothing.
 */
export async function passFlushGates(conn: PoolConnection, eventIds: readonly number[], slots: readonly number[]): Promise<void> {
  // Sorted, so two writers lock the rows they share in the same order.
  const rows = [...new Set(eventIds)].sort((a, b) => a - b).flatMap((eventId) => [...new Set(slots)].sort((a, b) => a - b).map((slot) => [eventId, slot, 1]))
  await conn.query('INSERT INTO event_flush_gates (event_id, slot, passes) VALUES ? ON DUPLICATE KEY UPDATE passes = passes + 1', [rows])
}

/**
 * Runs `work` again when a deadlock or, on Galera, certification refused it (at any statement or
 * at COMMIT: nothing of it stands), each time after `beforeRetry` (a catch-up, so it reads what beat it).
 */
export async function retryRefused<T>(attempts: number, work: () => Promise<T>, beforeRetry: () => Promise<void> = async () => undefined): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work()
    } catch (error) {
      if (!isDeadlock(error) || attempt >= attempts) throw error
      await beforeRetry()
    }
  }
}

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
 * shared lock and writes only while it is SCHEDULED, so on one server a flush in flight commits
 * before the draw reads the applications, and any later one finds the event ANNOUNCED and writes
 * nothing. On Galera those locks are the node's own; there the gate rows, written by the draw
 * before it reads and by every flush, make one of an overlapping draw and flush fail (1213): a
 * refused draw runs again and reads what the flush stored.
 */
export async function drawWinners(pool: Pool, eventId: number, hooks: DrawHooks = {}): Promise<DrawResult> {
  const result = await retryRefused(
    5,
    () => drawOnce(pool, eventId, hooks),
    () => catchUp(pool, 'events'),
  )
  // inTransaction returns null only when the work does; this work always answers.
  return result ?? { outcome: 'NOT_FOUND' }
}

/** Test seams: a race test holds the draw here, between reading the applications and announcing. */
export interface DrawHooks {
  afterRead?: () => Promise<void>
}

function drawOnce(pool: Pool, eventId: number, hooks: DrawHooks): Promise<DrawResult | null> {
  return inTransaction<DrawResult>(pool, async (conn) => {
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
    await passFlushGates(
      conn,
      [eventId],
      Array.from({ length: flushGateSlots }, (_, slot) => slot),
    )
    // Reads the arrival index in order and stops after the quota: O(quota), not O(applicants).
    const [inserted] = await conn.query<ResultSetHeader>(
      `INSERT IGNORE INTO event_winners (event_id, \`rank\`, application_id)
       SELECT event_id, ROW_NUMBER() OVER (ORDER BY received_at, replica_id, replica_seq), id
       FROM (SELECT event_id, received_at, replica_id, replica_seq, id FROM event_applications
             WHERE event_id = ? ORDER BY received_at, replica_id, replica_seq LIMIT ?) AS earliest`,
      [eventId, Number(event.winner_quota)],
    )
    await hooks.afterRead?.()
    await conn.query(`UPDATE events SET status = 'ANNOUNCED' WHERE id = ?`, [eventId])
    return { outcome: 'DRAWN', winners: inserted.affectedRows }
  })
}
