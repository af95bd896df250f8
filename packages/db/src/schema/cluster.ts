import { bigint, datetime, double, index, int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
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
    // The replica's recent request latency, written with each heartbeat (null: nothing to report):
    // the batch paces itself by what the live APIs feel, through the database alone.
    loadP99Us: int('load_p99_us', { unsigned: true }),
    loadRps: int('load_rps', { unsigned: true }),
    // Its counts per latency bucket ("bucket:count,…", @commerce/cluster's load-report.ts): readers merge them.
    loadCounts: varchar('load_counts', { length: 1024 }),
    // NOW(6) at the report: a report is fresh by its own interval, whatever the heartbeat's.
    loadReportedAt: datetime('load_reported_at', { mode: 'date', fsp: 6 }),
    // A batch worker's pace on the run it is working (null: none), written at its pacing decisions:
    // the run's status shows every live worker's level and reason, whichever replica answers.
    pacingRunId: bigint('pacing_run_id', { mode: 'number', unsigned: true }),
    pacingLevel: double('pacing_level'),
    pacingReason: varchar('pacing_reason', { length: 16 }),
  },
  (t) => [index('idx_was_instances_service_heartbeat').on(t.service, t.lastHeartbeat)],
)

export type WasInstance = typeof wasInstances.$inferSelect
export type NewWasInstance = typeof wasInstances.$inferInsert
