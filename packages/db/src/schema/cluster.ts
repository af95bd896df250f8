import { datetime, index, int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { uuidBinary } from './columns.ts'

export const wasInstances = mysqlTable(
  'was_instances',
  {
    id: uuidBinary('id').primaryKey(),
    service: varchar('service', { length: 32 }).notNull(),
    host: varchar('host', { length: 255 }).notNull(),
    pid: int('pid', { unsigned: true }).notNull(),
    startedAt: datetime('started_at', { mode: 'date', fsp: 6 }).notNull(),
    // Always written with NOW(6): liveness is judged on the database clock only.
    lastHeartbeat: datetime('last_heartbeat', { mode: 'date', fsp: 6 }).notNull(),
  },
  (t) => [index('idx_was_instances_service_heartbeat').on(t.service, t.lastHeartbeat)],
)

export type WasInstance = typeof wasInstances.$inferSelect
export type NewWasInstance = typeof wasInstances.$inferInsert
