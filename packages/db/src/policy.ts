import type { Grade } from './schema/users.ts'

/**
 * The monthly grade and coupon rules (DESIGN §5). Thresholds are configurable per deployment;
 * the batch, the APIs and the auditor all read them from one object of this shape.
 */
export interface GradePolicy {
  /** Minimum PAID total (KRW) in the period for each grade above BRONZE. */
  thresholds: { VIP: number; GOLD: number; SILVER: number }
  /** Grade coupons issued per grade: how many, and the value of each (KRW). */
  coupons: Record<Grade, { count: number; amount: number }>
}

export const defaultGradePolicy: GradePolicy = {
  thresholds: { VIP: 1_000_000, GOLD: 500_000, SILVER: 200_000 },
  coupons: {
    VIP: { count: 3, amount: 10_000 },
    GOLD: { count: 2, amount: 5_000 },
    SILVER: { count: 1, amount: 3_000 },
    BRONZE: { count: 0, amount: 0 },
  },
}

/** Grade coupons share one `kind`; `slot` 1..count tells them apart within a period. */
export const gradeCouponKind = 'GRADE'

export function gradeFor(total: number, policy: GradePolicy): Grade {
  if (total >= policy.thresholds.VIP) return 'VIP'
  if (total >= policy.thresholds.GOLD) return 'GOLD'
  if (total >= policy.thresholds.SILVER) return 'SILVER'
  return 'BRONZE'
}

export interface PeriodRange {
  period: string
  /** First instant of the month (UTC). */
  start: Date
  /** First instant of the next month (UTC), exclusive. */
  end: Date
  /** Grade coupons of this period are valid until the end of the following month. */
  couponExpiresAt: Date
}

const periodPattern = /^(\d{4})-(0[1-9]|1[0-2])$/

/** Parses `YYYY-MM` (UTC months); null when malformed. */
export function parsePeriod(period: string): PeriodRange | null {
  const match = periodPattern.exec(period)
  if (!match) return null
  const year = Number(match[1])
  const month = Number(match[2]) - 1
  return {
    period,
    start: new Date(Date.UTC(year, month, 1)),
    end: new Date(Date.UTC(year, month + 1, 1)),
    couponExpiresAt: new Date(Date.UTC(year, month + 2, 1) - 1),
  }
}
