import { bigint, char, datetime, index, int, mysqlEnum, mysqlTable, primaryKey, uniqueIndex, varchar } from 'drizzle-orm/mysql-core'
import { sql } from 'drizzle-orm'
import { mediumBlob, uuidBinary } from './columns.ts'
import { grades } from '@commerce/domain'

export const runStatuses = ['REQUESTED', 'PLANNING', 'RUNNING', 'COMPLETED', 'FAILED'] as const
export type RunStatus = (typeof runStatuses)[number]

export const batchRuns = mysqlTable(
  'batch_runs',
  {
    id: bigint('id', { mode: 'number', unsigned: true }).autoincrement().primaryKey(),
    job: varchar('job', { length: 32 }).notNull(),
    period: char('period', { length: 7 }).notNull(),
    status: mysqlEnum('status', runStatuses).notNull().default('REQUESTED'),
    strategy: varchar('strategy', { length: 16 }).notNull(),
    // The fixed plan: scaling changes who works, never what the chunks are.
    chunkSize: int('chunk_size', { unsigned: true }),
    chunkCount: int('chunk_count', { unsigned: true }),
    targetCount: int('target_count', { unsigned: true }),
    planner: uuidBinary('planner'),
    planLeaseUntil: datetime('plan_lease_until', { mode: 'date', fsp: 6 }),
    planStartedAt: datetime('plan_started_at', { mode: 'date', fsp: 6 }),
    requestedAt: datetime('requested_at', { mode: 'date', fsp: 6 }).notNull().default(sql`CURRENT_TIMESTAMP(6)`),
    plannedAt: datetime('planned_at', { mode: 'date', fsp: 6 }),
    publishedAt: datetime('published_at', { mode: 'date', fsp: 6 }),
    finishedAt: datetime('finished_at', { mode: 'date', fsp: 6 }),
    couponsIssued: int('coupons_issued', { unsigned: true }).notNull().default(0),
    couponsRevoked: int('coupons_revoked', { unsigned: true }).notNull().default(0),
    redemptionsApplied: int('redemptions_applied', { unsigned: true }).notNull().default(0),
    // Why an operator forced a run of a period older than the latest COMPLETED one (else null).
    forceReason: varchar('force_reason', { length: 500 }),
    // The live APIs' p99 (µs) when the run's planning began, before the batch touched anything:
    // the baseline a relative pacing budget is measured against (null: no traffic to yield to).
    pacingBaselineUs: int('pacing_baseline_us', { unsigned: true }),
  },
  (t) => [uniqueIndex('uq_batch_runs_job_period').on(t.job, t.period), index('idx_batch_runs_status').on(t.status)],
)

/**
 * One row per job that every admission writes (insertRun): on Galera, where the admission's
 * next-key locks exist only on its node, two admissions that cross then share a written key and
 * the cluster refuses one, which runs again and sees the other's run.
 */
export const batchAdmissions = mysqlTable('batch_admissions', {
  job: varchar('job', { length: 32 }).primaryKey(),
  admitted: bigint('admitted', { mode: 'number', unsigned: true }).notNull().default(0),
})

export const batchTargets = mysqlTable(
  'batch_targets',
  {
    runId: bigint('run_id', { mode: 'number', unsigned: true }).notNull(),
    userId: bigint('user_id', { mode: 'number', unsigned: true }).notNull(),
    chunkNo: int('chunk_no', { unsigned: true }).notNull(),
    // Computed once at plan time so chunks never re-aggregate orders.
    total: bigint('total', { mode: 'number', unsigned: true }).notNull(),
    orderCount: int('order_count', { unsigned: true }).notNull(),
    toGrade: mysqlEnum('to_grade', grades).notNull(),
  },
  (t) => [primaryKey({ name: 'pk_batch_targets', columns: [t.runId, t.userId] }), index('idx_batch_targets_chunk').on(t.runId, t.chunkNo)],
)

export const stepStatuses = ['PENDING', 'CLAIMED', 'DONE'] as const
export type StepStatus = (typeof stepStatuses)[number]

export const stepExecutionLog = mysqlTable(
  'step_execution_log',
  {
    runId: bigint('run_id', { mode: 'number', unsigned: true }).notNull(),
    step: varchar('step', { length: 32 }).notNull(),
    chunkNo: int('chunk_no', { unsigned: true }).notNull(),
    status: mysqlEnum('status', stepStatuses).notNull().default('PENDING'),
    owner: uuidBinary('owner'),
    // Bumped by every claim; a commit is fenced on (owner, epoch).
    epoch: int('epoch', { unsigned: true }).notNull().default(0),
    leaseUntil: datetime('lease_until', { mode: 'date', fsp: 6 }),
    itemCount: int('item_count', { unsigned: true }).notNull().default(0),
    writeCount: int('write_count', { unsigned: true }).notNull().default(0),
    couponsIssued: int('coupons_issued', { unsigned: true }).notNull().default(0),
    couponsRevoked: int('coupons_revoked', { unsigned: true }).notNull().default(0),
    redemptionsApplied: int('redemptions_applied', { unsigned: true }).notNull().default(0),
    claimCount: int('claim_count', { unsigned: true }).notNull().default(0),
    startedAt: datetime('started_at', { mode: 'date', fsp: 6 }),
    finishedAt: datetime('finished_at', { mode: 'date', fsp: 6 }),
  },
  (t) => [primaryKey({ name: 'pk_step_execution_log', columns: [t.runId, t.step, t.chunkNo] }), index('idx_step_execution_log_status').on(t.runId, t.status)],
)

// A run's target users in one compact encoding (@commerce/cluster's target-set.ts), split into
// parts: what every API replica's guard loads, a few rows instead of one per target.
export const batchTargetSets = mysqlTable(
  'batch_target_sets',
  {
    runId: bigint('run_id', { mode: 'number', unsigned: true }).notNull(),
    part: int('part', { unsigned: true }).notNull(),
    bytes: mediumBlob('bytes').notNull(),
  },
  (t) => [primaryKey({ name: 'pk_batch_target_sets', columns: [t.runId, t.part] })],
)

// What happened to a run's chunks, for the operations console: step_execution_log keeps only a
// chunk's last claim; this keeps every claim (and whether it was a steal or a takeover) and every
// commit refused by fencing, one row each, written by the worker it happened to.
export const chunkEventKinds = ['CLAIM', 'STEAL', 'TAKEOVER', 'REFUSED'] as const
export type ChunkEventKind = (typeof chunkEventKinds)[number]

export const batchChunkEvents = mysqlTable(
  'batch_chunk_events',
  {
    id: bigint('id', { mode: 'number', unsigned: true }).autoincrement().primaryKey(),
    runId: bigint('run_id', { mode: 'number', unsigned: true }).notNull(),
    chunkNo: int('chunk_no', { unsigned: true }).notNull(),
    kind: mysqlEnum('kind', chunkEventKinds).notNull(),
    worker: uuidBinary('worker').notNull(),
    epoch: int('epoch', { unsigned: true }).notNull(),
    at: datetime('at', { mode: 'date', fsp: 6 }).notNull().default(sql`CURRENT_TIMESTAMP(6)`),
  },
  (t) => [index('idx_batch_chunk_events_run').on(t.runId, t.id)],
)

export type BatchRun = typeof batchRuns.$inferSelect
export type NewBatchRun = typeof batchRuns.$inferInsert
export type BatchTarget = typeof batchTargets.$inferSelect
export type NewBatchTarget = typeof batchTargets.$inferInsert
export type StepExecution = typeof stepExecutionLog.$inferSelect
export type NewStepExecution = typeof stepExecutionLog.$inferInsert
export type BatchChunkEvent = typeof batchChunkEvents.$inferSelect
export type BatchTargetSetPart = typeof batchTargetSets.$inferSelect
