import { rejectionReason, type RedemptionRejection } from '@commerce/domain'
import type { PoolConnection } from 'mysql2/promise'
import type { Rows, WithUuidBytes } from './rows.ts'
import type { Coupon, CouponRedemption } from './schema/index.ts'

export interface AppliedRedemptions {
  redeemed: number
  rejected: number
}

type PendingRow = WithUuidBytes<Pick<CouponRedemption, 'id' | 'couponId' | 'userId'>, 'id' | 'couponId'>
/** A request's coupon as the request is judged: `expired` at the request's instant, the rest as it is now. */
type CouponRow = WithUuidBytes<Pick<Coupon, 'id' | 'userId' | 'status'>, 'id'> & { requestId: Buffer; expired: 0 | 1 }
type IdRow = WithUuidBytes<Pick<Coupon, 'id'>, 'id'>

/**
 * Applies the PENDING deferred redemptions (DESIGN §6.4) of these users inside the caller's
 * transaction, against the coupons' current state except for expiry, which is judged at each
 * request's `requested_at` (the instant its 202 was given, on the database clock): a request
 * accepted in time is not lost to a late chunk. The batch calls it in each chunk's commit
 * (after revoking and issuing), the coupon-api sweeper for chunks already DONE. Requests are
 * taken in arrival order, so of two requests for one coupon the first wins.
 * `skipLocked` (the sweeper): a request whose row or coupon another transaction holds is left
 * PENDING for a later sweep instead of waiting, so one locked coupon neither stalls the other
 * users' requests nor keeps their coupons locked while it waits.
 * Raw SQL: it runs inside the batch's hot chunk transaction.
 */
export async function applyPendingRedemptions(conn: PoolConnection, userIds: readonly number[], { skipLocked = false } = {}): Promise<AppliedRedemptions> {
  if (userIds.length === 0) return { redeemed: 0, rejected: 0 }
  const locking = skipLocked ? 'FOR UPDATE SKIP LOCKED' : 'FOR UPDATE'
  // Found by a plain read, then locked by primary key. A locking read over the (status, user_id)
  // range would take next-key locks on the PENDING rows of *other* users next to these, and two
  // chunks committing side by side then deadlock on each other's rows (measured: one worker kept
  // rolling back and handing its chunks over, the run took twice as long). A request recorded
  // after the read is left PENDING for the coupon-api sweeper, as one recorded after the commit is.
  const [found] = await conn.query<Rows<IdRow>>("SELECT id FROM coupon_redemptions WHERE status = 'PENDING' AND user_id IN (?)", [userIds])
  if (found.length === 0) return { redeemed: 0, rejected: 0 }
  const [locked] = await conn.query<Rows<PendingRow>>(
    `SELECT id, coupon_id AS couponId, user_id AS userId FROM coupon_redemptions WHERE id IN (?) AND status = 'PENDING' ORDER BY requested_at, id ${locking}`,
    [found.map((row) => row.id)],
  )
  if (locked.length === 0) return { redeemed: 0, rejected: 0 }
  // Then their coupons, one row per request (the request rows are ours already). In a batch chunk
  // the coupons are locked already (it revoked and issued first).
  const [couponRows] = await conn.query<Rows<CouponRow>>(
    `SELECT r.id AS requestId, c.id, c.user_id AS userId, c.status, c.expires_at < r.requested_at AS expired
     FROM coupon_redemptions r JOIN coupons c ON c.id = r.coupon_id WHERE r.id IN (?) ${locking}`,
    [locked.map((row) => row.id)],
  )
  const coupons = new Map(couponRows.map((row) => [row.requestId.toString('hex'), row]))
  let pending = locked
  if (skipLocked) {
    // A coupon missing from the locking read is either locked elsewhere (skip its requests) or gone.
    const missing = locked.filter((row) => !coupons.has(row.id.toString('hex'))).map((row) => row.couponId)
    if (missing.length > 0) {
      const [held] = await conn.query<Rows<IdRow>>('SELECT id FROM coupons WHERE id IN (?)', [missing])
      const busy = new Set(held.map((row) => row.id.toString('hex')))
      pending = locked.filter((row) => !busy.has(row.couponId.toString('hex')))
    }
  }

  const redeemedCoupons = new Set<string>()
  const redeemed: Buffer[] = []
  const redeemedCouponIds: Buffer[] = []
  const rejected: { id: Buffer; reason: RedemptionRejection }[] = []
  for (const row of pending) {
    const couponKey = row.couponId.toString('hex')
    const stored = coupons.get(row.id.toString('hex'))
    // A coupon redeemed by an earlier request of this same batch counts as REDEEMED already.
    const coupon =
      !stored || stored.userId !== row.userId
        ? null
        : { status: redeemedCoupons.has(couponKey) ? ('REDEEMED' as const) : stored.status, expired: stored.expired === 1 }
    const reason = rejectionReason(coupon)
    if (reason) {
      rejected.push({ id: row.id, reason })
    } else {
      redeemedCoupons.add(couponKey)
      redeemed.push(row.id)
      redeemedCouponIds.push(row.couponId)
    }
  }

  if (redeemed.length > 0) {
    await conn.query(`UPDATE coupons SET status = 'REDEEMED', redeemed_at = NOW(6) WHERE id IN (?) AND status = 'ISSUED'`, [redeemedCouponIds])
    await conn.query(`UPDATE coupon_redemptions SET status = 'REDEEMED', resolved_at = NOW(6) WHERE id IN (?)`, [redeemed])
  }
  if (rejected.length > 0) {
    const reasonCase = rejected.map(() => 'WHEN ? THEN ?').join(' ')
    await conn.query(`UPDATE coupon_redemptions SET status = 'REJECTED', reason = CASE id ${reasonCase} END, resolved_at = NOW(6) WHERE id IN (?)`, [
      ...rejected.flatMap((r) => [r.id, r.reason]),
      rejected.map((r) => r.id),
    ])
  }
  return { redeemed: redeemed.length, rejected: rejected.length }
}
