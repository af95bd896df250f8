import { bigint, char, datetime, index, int, mysqlEnum, mysqlTable, primaryKey, uniqueIndex, varchar } from 'drizzle-orm/mysql-core'
import { sql } from 'drizzle-orm'
import { grades } from '@commerce/domain'
import { idempotencyKey } from './columns.ts'

export const users = mysqlTable('users', {
  id: bigint('id', { mode: 'number', unsigned: true }).autoincrement().primaryKey(),
  name: varchar('name', { length: 50 }).notNull(),
  grade: mysqlEnum('grade', grades).notNull().default('BRONZE'),
  gradeUpdatedAt: datetime('grade_updated_at', { mode: 'date', fsp: 6 }),
  createdAt: datetime('created_at', { mode: 'date', fsp: 6 }).notNull().default(sql`CURRENT_TIMESTAMP(6)`),
})

export const orderStatuses = ['PAID', 'CANCELLED'] as const

export const orders = mysqlTable(
  'orders',
  {
    id: bigint('id', { mode: 'number', unsigned: true }).autoincrement().primaryKey(),
    userId: bigint('user_id', { mode: 'number', unsigned: true }).notNull(),
    amount: int('amount', { unsigned: true }).notNull(),
    category: varchar('category', { length: 20 }).notNull(),
    status: mysqlEnum('status', orderStatuses).notNull(),
    orderedAt: datetime('ordered_at', { mode: 'date' }).notNull(),
  },
  (t) => [
    // Per-user reads, covering the fields the grade needs.
    index('idx_orders_user_time').on(t.userId, t.orderedAt, t.amount, t.status),
    // Month scans for the batch: a covering range scan of one period.
    index('idx_orders_month').on(t.orderedAt, t.status, t.userId, t.amount),
  ],
)

/**
 * Orders placed with an Idempotency-Key: a retried POST finds its first order here. A table of
 * its own, so the bulk-loaded orders table and the batch's covering scans carry nothing extra.
 */
export const orderRequests = mysqlTable(
  'order_requests',
  {
    userId: bigint('user_id', { mode: 'number', unsigned: true }).notNull(),
    idempotencyKey: idempotencyKey('idempotency_key').notNull(),
    orderId: bigint('order_id', { mode: 'number', unsigned: true }).notNull(),
    createdAt: datetime('created_at', { mode: 'date', fsp: 6 }).notNull().default(sql`CURRENT_TIMESTAMP(6)`),
  },
  (t) => [primaryKey({ name: 'pk_order_requests', columns: [t.userId, t.idempotencyKey] })],
)

export const gradeHistory = mysqlTable(
  'grade_history',
  {
    id: bigint('id', { mode: 'number', unsigned: true }).autoincrement().primaryKey(),
    userId: bigint('user_id', { mode: 'number', unsigned: true }).notNull(),
    period: char('period', { length: 7 }).notNull(),
    fromGrade: mysqlEnum('from_grade', grades).notNull(),
    toGrade: mysqlEnum('to_grade', grades).notNull(),
    total: bigint('total', { mode: 'number', unsigned: true }).notNull(),
    orderCount: int('order_count', { unsigned: true }).notNull(),
    createdAt: datetime('created_at', { mode: 'date', fsp: 6 }).notNull().default(sql`CURRENT_TIMESTAMP(6)`),
  },
  (t) => [uniqueIndex('uq_grade_history_user_period').on(t.userId, t.period)],
)

export type User = typeof users.$inferSelect
export type NewUser = typeof users.$inferInsert
export type Order = typeof orders.$inferSelect
export type NewOrder = typeof orders.$inferInsert
export type OrderRequest = typeof orderRequests.$inferSelect
export type GradeHistory = typeof gradeHistory.$inferSelect
export type NewGradeHistory = typeof gradeHistory.$inferInsert
