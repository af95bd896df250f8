import { bigint, char, datetime, index, int, mysqlEnum, mysqlTable, tinyint, uniqueIndex, varchar } from 'drizzle-orm/mysql-core'
import { sql } from 'drizzle-orm'
import type { RedemptionRejection } from '@commerce/domain'
import { idempotencyKey, uuidBinary } from './columns.ts'

export const couponStatuses = ['ISSUED', 'REDEEMED', 'REVOKED'] as const
export type CouponStatus = (typeof couponStatuses)[number]

export const coupons = mysqlTable(
  'coupons',
  {
    id: uuidBinary('id').primaryKey(),
    userId: bigint('user_id', { mode: 'number', unsigned: true }).notNull(),
    kind: varchar('kind', { length: 20 }).notNull(),
    period: char('period', { length: 7 }).notNull(),
    slot: tinyint('slot', { unsigned: true }).notNull(),
    amount: int('amount', { unsigned: true }).notNull(),
    status: mysqlEnum('status', couponStatuses).notNull().default('ISSUED'),
    issuedAt: datetime('issued_at', { mode: 'date', fsp: 6 }).notNull(),
    expiresAt: datetime('expires_at', { mode: 'date', fsp: 6 }).notNull(),
    redeemedAt: datetime('redeemed_at', { mode: 'date', fsp: 6 }),
    revokedAt: datetime('revoked_at', { mode: 'date', fsp: 6 }),
  },
  (t) => [
    // The exactly-once key of issuance: re-runs collide here instead of duplicating.
    uniqueIndex('uq_coupons_user_kind_period_slot').on(t.userId, t.kind, t.period, t.slot),
    index('idx_coupons_user_status').on(t.userId, t.status),
  ],
)

export const redemptionStatuses = ['PENDING', 'REDEEMED', 'REJECTED'] as const
export type RedemptionStatus = (typeof redemptionStatuses)[number]

export const couponRedemptions = mysqlTable(
  'coupon_redemptions',
  {
    id: uuidBinary('id').primaryKey(),
    couponId: uuidBinary('coupon_id').notNull(),
    userId: bigint('user_id', { mode: 'number', unsigned: true }).notNull(),
    idempotencyKey: idempotencyKey('idempotency_key').notNull(),
    status: mysqlEnum('status', redemptionStatuses).notNull().default('PENDING'),
    // Written only from RedemptionRejection; a plain varchar so a new code needs no migration.
    reason: varchar('reason', { length: 40 }).$type<RedemptionRejection>(),
    requestedAt: datetime('requested_at', { mode: 'date', fsp: 6 }).notNull().default(sql`CURRENT_TIMESTAMP(6)`),
    resolvedAt: datetime('resolved_at', { mode: 'date', fsp: 6 }),
  },
  (t) => [
    uniqueIndex('uq_redemptions_user_key').on(t.userId, t.idempotencyKey),
    // The sweeper and the batch look up PENDING requests per user.
    index('idx_redemptions_status_user').on(t.status, t.userId),
    index('idx_redemptions_coupon').on(t.couponId),
    // The redemptions resolved in the last minute (batch-worker's /metrics, every scrape): a range
    // over the newest keys instead of a scan of every resolved redemption ever kept.
    index('idx_redemptions_resolved_at').on(t.resolvedAt),
  ],
)

export type Coupon = typeof coupons.$inferSelect
export type NewCoupon = typeof coupons.$inferInsert
export type CouponRedemption = typeof couponRedemptions.$inferSelect
export type NewCouponRedemption = typeof couponRedemptions.$inferInsert
