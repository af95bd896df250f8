import {
  catchUp,
  databaseTopology,
  flushGateSlot,
  inTransaction,
  passFlushGates,
  retryRefused,
  uuidFromBytes,
  uuidToBytes,
  type Event,
  type EventApplication,
  type Pool,
  type ResultSetHeader,
  type Rows,
  type RowDataPacket,
  type WithUuidBytes,
} from '@commerce/db'
import { datetime6 } from './clock.ts'

/** An application already stored for one of a flush's (event, phone) or (event, account) pairs. */
type StoredApplication = WithUuidBytes<Pick<EventApplication, 'id' | 'eventId' | 'phone' | 'userId'>, 'id'>

/** An event as the apply path reads it (the schema's columns but the schedule key and creation time). */
export type EventRecord = Omit<Event, 'scheduleKey' | 'createdAt'>

/** One application as a replica stamped it on arrival. */
export interface Application {
  id: string
  eventId: number
  name: string
  phone: string
  /** The signed-in applicant (ACCOUNT events); null in a PUBLIC event. */
  userId: number | null
  receivedAtMicros: number
  replicaId: string
  replicaSeq: number
}

/** An application stored before: its id and its account (null in a PUBLIC event). */
export interface StoredEntry {
  applicationId: string
  userId: number | null
}

/** What one group commit did with a row: written, a repeat of a stored application (same phone or account), or too late for the draw. */
export type FlushOutcome = { kind: 'inserted' } | ({ kind: 'duplicate' } & StoredEntry) | { kind: 'drawn' }

/** What makes two applications one entry: the same phone (uq_event_applications_phone). */
export const applicationKey = (a: Pick<Application, 'eventId' | 'phone'>) => `${a.eventId}:${a.phone}`
/** Or the same account (uq_event_applications_user); null when the application has none. */
const accountKey = (a: Pick<Application, 'eventId' | 'userId'>) => (a.userId === null ? null : `${a.eventId}#${a.userId}`)

/** Stored entries found for a set of applications, by phone and by account. */
export interface StoredEntries {
  /** The entry this application repeats: its account's first, else its phone's; undefined when none. */
  of(application: Pick<Application, 'eventId' | 'phone' | 'userId'>): StoredEntry | undefined
}

const eventColumns = 'id, title, opens_at AS opensAt, closes_at AS closesAt, winner_quota AS winnerQuota, announce_at AS announceAt, status, entry'

/**
 * Event SQL of event-apply. The apply path (insertApplications) is raw mysql2
 * on purpose: it runs thousands of times a second and drizzle's query building costs
 * measurable time there; the rest stays in the same style for one place to read.
 */
/** Test seams: a race test holds a group commit on Galera here, its rows and gate written and not yet committed. */
export interface FlushHooks {
  beforeCommit?: () => Promise<void>
}

export function createEventRepository(pool: Pool, hooks: FlushHooks = {}) {
  /** Whether the pool's server is a Galera node, asked once (again after a failed ask): its flushes pass the gate. */
  let galera: Promise<boolean> | undefined
  const onGalera = (): Promise<boolean> => {
    galera ??= databaseTopology(pool).then(
      (topology) => topology.kind === 'galera',
      (error: unknown) => {
        galera = undefined
        throw error
      },
    )
    return galera
  }
  return {
    async createEvent(input: Omit<EventRecord, 'id' | 'status'>): Promise<EventRecord> {
      const [result] = await pool.query<ResultSetHeader>(
        'INSERT INTO events (title, opens_at, closes_at, winner_quota, announce_at, entry) VALUES (?, ?, ?, ?, ?, ?)',
        [input.title, input.opensAt, input.closesAt, input.winnerQuota, input.announceAt, input.entry],
      )
      const [event] = await this.findEvents([result.insertId])
      if (!event) throw new Error(`event ${result.insertId} vanished after insert`)
      return event
    },

    async findEvents(ids: number[]): Promise<EventRecord[]> {
      if (ids.length === 0) return []
      const [rows] = await pool.query<Rows<EventRecord>>(`SELECT ${eventColumns} FROM events WHERE id IN (?)`, [ids])
      return rows
    },

    /** Committed applications, counted no further than `cap` (the quota): O(quota) at most. */
    async countApplications(eventId: number, cap: number): Promise<number> {
      const [rows] = await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM (SELECT 1 FROM event_applications WHERE event_id = ? LIMIT ?) AS capped', [
        eventId,
        cap,
      ])
      return Number(rows[0]?.n ?? 0)
    },

    /**
     * One group commit: a multi-row INSERT IGNORE of the rows whose event is not drawn yet
     * (durable when this returns), and what became of each row, in order.
     *
     * The same statement reads each row's event with a shared lock (a locking read, so the
     * latest committed status even under READ COMMITTED) and inserts only for SCHEDULED events;
     * the draw holds that row FOR UPDATE. So on one server a flush commits before the draw reads
     * the applications, or waits for the draw and then finds the event drawn: no clock decides.
     * Events are read by primary key (STRAIGHT_JOIN keeps the optimiser from scanning, and
     * locking, the table). On Galera those locks are the node's own: there the flush is a
     * transaction that also writes its gate row (passFlushGates), which the draw writes too, so the
     * cluster refuses one of the two when they overlap. A refused flush (1213, at a statement or at
     * COMMIT) stored nothing and runs again: then it finds the event drawn, or is the one the draw
     * will read. One server needs no gate, and keeps the flush one autocommit statement.
     *
     * When every row was inserted no second query is needed; otherwise each phone's stored row
     * is read back: ours (inserted), another (a duplicate, with that id), or none (the event was
     * drawn).
     */
    async insertApplications(rows: Application[]): Promise<FlushOutcome[]> {
      const values = rows.map((a) => [
        uuidToBytes(a.id),
        a.eventId,
        a.name,
        a.phone,
        a.userId,
        datetime6(a.receivedAtMicros),
        uuidToBytes(a.replicaId),
        a.replicaSeq,
      ])
      const insert = async (conn: Pick<Pool, 'query'>) => {
        const [result] = await conn.query<ResultSetHeader>(
          `INSERT IGNORE INTO event_applications (id, event_id, name, phone, user_id, received_at, replica_id, replica_seq)
           WITH batch (id, event_id, name, phone, user_id, received_at, replica_id, replica_seq) AS (VALUES ?)
           SELECT b.id, b.event_id, b.name, b.phone, b.user_id, b.received_at, b.replica_id, b.replica_seq
           FROM batch b STRAIGHT_JOIN events e ON e.id = b.event_id
           WHERE e.status = 'SCHEDULED' LOCK IN SHARE MODE`,
          [values],
        )
        return result.affectedRows
      }
      const inserted = await retryRefused(
        5,
        async () => {
          // One server: the locks order flush and draw, so one autocommit statement is the whole flush.
          if (!(await onGalera())) return insert(pool)
          const written = await inTransaction(pool, async (conn) => {
            const affected = await insert(conn)
            if (affected > 0) {
              await passFlushGates(
                conn,
                rows.map((a) => a.eventId),
                rows.map((a) => flushGateSlot(a.replicaId)),
              )
            }
            await hooks.beforeCommit?.()
            return affected
          })
          return written ?? 0
        },
        () => catchUp(pool, 'events'),
      )
      if (inserted === rows.length) return rows.map(() => ({ kind: 'inserted' }))
      const stored = await this.storedApplications(rows)
      return rows.map((a): FlushOutcome => {
        const entry = stored.of(a)
        return entry === undefined ? { kind: 'drawn' } : entry.applicationId === a.id ? { kind: 'inserted' } : { kind: 'duplicate', ...entry }
      })
    },

    /** The stored applications that share a phone or an account with these: one statement for any number. */
    async storedApplications(applications: Pick<Application, 'eventId' | 'phone' | 'userId'>[]): Promise<StoredEntries> {
      const accounts = applications.filter((a) => a.userId !== null).map((a) => [a.eventId, a.userId])
      const [found] = await pool.query<Rows<StoredApplication>>(
        `SELECT id, event_id AS eventId, phone, user_id AS userId FROM event_applications
         WHERE (event_id, phone) IN (?)${accounts.length > 0 ? ' OR (event_id, user_id) IN (?)' : ''}`,
        [applications.map((a) => [a.eventId, a.phone]), ...(accounts.length > 0 ? [accounts] : [])],
      )
      const byKey = new Map<string, StoredEntry>()
      for (const row of found) {
        const entry = { applicationId: uuidFromBytes(row.id), userId: row.userId === null ? null : Number(row.userId) }
        byKey.set(applicationKey(row), entry)
        const account = accountKey(row)
        if (account !== null) byKey.set(account, entry)
      }
      return {
        of: (a) => {
          const account = accountKey(a)
          return (account === null ? undefined : byKey.get(account)) ?? byKey.get(applicationKey(a))
        },
      }
    },

    /** PENDING until the draw is announced, then WON or LOST; null when the id is unknown. */
    async applicationStatus(eventId: number, applicationId: string): Promise<{ won: boolean; announced: boolean } | null> {
      const [rows] = await pool.query<RowDataPacket[]>(
        `SELECT e.status = 'ANNOUNCED' AND e.announce_at <= NOW(6) AS announced, w.\`rank\` IS NOT NULL AS won
         FROM event_applications a JOIN events e ON e.id = a.event_id
         LEFT JOIN event_winners w ON w.event_id = a.event_id AND w.application_id = a.id
         WHERE a.id = ? AND a.event_id = ?`,
        [uuidToBytes(applicationId), eventId],
      )
      const row = rows[0]
      return row ? { announced: Boolean(Number(row.announced)), won: Boolean(Number(row.won)) } : null
    },

    async winners(eventId: number): Promise<{ rank: number; name: string; phone: string }[]> {
      const [rows] = await pool.query<RowDataPacket[]>(
        `SELECT w.\`rank\`, a.name, a.phone FROM event_winners w JOIN event_applications a ON a.id = w.application_id
         WHERE w.event_id = ? ORDER BY w.\`rank\``,
        [eventId],
      )
      return rows.map((row) => ({ rank: Number(row.rank), name: String(row.name), phone: String(row.phone) }))
    },
  }
}

export type EventRepository = ReturnType<typeof createEventRepository>
