/** Membership grades, lowest first. */
export const grades = ['BRONZE', 'SILVER', 'GOLD', 'VIP'] as const
export type Grade = (typeof grades)[number]

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
