import { bigint, datetime, index, int, mysqlEnum, mysqlTable, primaryKey, uniqueIndex, varchar } from 'drizzle-orm/mysql-core'
import { sql } from 'drizzle-orm'
import { uuidBinary } from './columns.ts'

export const eventStatuses = ['SCHEDULED', 'ANNOUNCED'] as const
/** Who may enter: signed-in customers, one entry per account and per phone; or anyone, one entry per phone. */
export const eventEntries = ['ACCOUNT', 'PUBLIC'] as const

export const events = mysqlTable('events', {
  id: bigint('id', { mode: 'number', unsigned: true }).autoincrement().primaryKey(),
  title: varchar('title', { length: 100 }).notNull(),
  opensAt: datetime('opens_at', { mode: 'date', fsp: 6 }).notNull(),
  closesAt: datetime('closes_at', { mode: 'date', fsp: 6 }).notNull(),
  winnerQuota: int('winner_quota', { unsigned: true }).notNull(),
  announceAt: datetime('announce_at', { mode: 'date', fsp: 6 }).notNull(),
  status: mysqlEnum('status', eventStatuses).notNull().default('SCHEDULED'),
  // PUBLIC for the rows that existed before entry was a choice (they took anyone); every writer
  // states it, and the API and the daily schedule choose ACCOUNT unless told otherwise.
  entry: mysqlEnum('entry', eventEntries).notNull().default('PUBLIC'),
  // Set on scheduled events ('daily:2026-11-23'): every daemon may create the day's event
  // ahead of time, and this key makes that creation happen once.
  scheduleKey: varchar('schedule_key', { length: 40 }).unique('uq_events_schedule_key'),
  createdAt: datetime('created_at', { mode: 'date', fsp: 6 }).notNull().default(sql`CURRENT_TIMESTAMP(6)`),
})

export const eventApplications = mysqlTable(
  'event_applications',
  {
    id: uuidBinary('id').primaryKey(),
    eventId: bigint('event_id', { mode: 'number', unsigned: true }).notNull(),
    name: varchar('name', { length: 50 }).notNull(),
    phone: varchar('phone', { length: 16 }).notNull(),
    // The signed-in applicant of an ACCOUNT event; NULL in a PUBLIC one (NULLs never collide below).
    userId: bigint('user_id', { mode: 'number', unsigned: true }),
    receivedAt: datetime('received_at', { mode: 'date', fsp: 6 }).notNull(),
    replicaId: uuidBinary('replica_id').notNull(),
    replicaSeq: bigint('replica_seq', { mode: 'number', unsigned: true }).notNull(),
  },
  (t) => [
    // One entry per normalised phone per event: INSERT IGNORE resolves duplicates here.
    uniqueIndex('uq_event_applications_phone').on(t.eventId, t.phone),
    // And one per account.
    uniqueIndex('uq_event_applications_user').on(t.eventId, t.userId),
    // The draw reads the first `quota` rows of this index in order.
    index('idx_event_applications_arrival').on(t.eventId, t.receivedAt, t.replicaId, t.replicaSeq),
  ],
)

export const eventWinners = mysqlTable(
  'event_winners',
  {
    eventId: bigint('event_id', { mode: 'number', unsigned: true }).notNull(),
    rank: int('rank', { unsigned: true }).notNull(),
    applicationId: uuidBinary('application_id').notNull(),
  },
  (t) => [primaryKey({ name: 'pk_event_winners', columns: [t.eventId, t.rank] }), uniqueIndex('uq_event_winners_application').on(t.eventId, t.applicationId)],
)

/**
 * The certified meeting point of the draw and the group commits (DESIGN §6.6). On Galera a lock on
 * the event row exists only on the node that took it, so each flush also writes one row here (its
 * replica's slot) and the draw writes every slot of its event: the two then share a written key,
 * and whichever commits second is refused by the cluster instead of committing beside the other.
 */
export const eventFlushGates = mysqlTable(
  'event_flush_gates',
  {
    eventId: bigint('event_id', { mode: 'number', unsigned: true }).notNull(),
    slot: int('slot', { unsigned: true }).notNull(),
    passes: bigint('passes', { mode: 'number', unsigned: true }).notNull().default(0),
  },
  (t) => [primaryKey({ name: 'pk_event_flush_gates', columns: [t.eventId, t.slot] })],
)

export type Event = typeof events.$inferSelect
export type NewEvent = typeof events.$inferInsert
export type EventApplication = typeof eventApplications.$inferSelect
export type NewEventApplication = typeof eventApplications.$inferInsert
export type EventWinner = typeof eventWinners.$inferSelect
export type NewEventWinner = typeof eventWinners.$inferInsert
