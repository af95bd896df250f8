import {
  inTransaction,
  isDeadlock,
  isDuplicateKey,
  uuidFromBytes,
  uuidToBytes,
  uuidV7,
  type Coupon,
  type CouponRedemption,
  type CouponStatus,
  type Pool,
  type PoolConnection,
  type ResultSetHeader,
  type Rows,
  type User,
  type WithUuidBytes,
} from '@commerce/db'
import { rejectionReason, type RedemptionRejection } from '@commerce/domain'

/** No RUNNING run targets this user in a chunk that is not DONE: the batch is not rewriting them. */
const outsideBatch = (userId: string) => `NOT EXISTS (
  SELECT 1 FROM batch_runs b
  JOIN batch_targets t ON t.run_id = b.id AND t.user_id = ${userId}
  JOIN step_execution_log s ON s.run_id = t.run_id AND s.chunk_no = t.chunk_no AND s.status <> 'DONE'
  WHERE b.status = 'RUNNING')`

export interface Redemption {
  redemptionId: string
  couponId: string
  userId: number
  status: 'PENDING' | 'REDEEMED' | 'REJECTED'
  reason: RedemptionRejection | null
  requestedAt: string
  resolvedAt: string | null
}

/** A redemption row as read (columns aliased to the schema's names; UUIDs as bytes). */
type RedemptionRow = WithUuidBytes<Pick<CouponRedemption, 'id' | 'couponId' | 'userId' | 'status' | 'reason' | 'requestedAt' | 'resolvedAt'>, 'id' | 'couponId'>
const redemptionColumns = 'id, coupon_id AS couponId, user_id AS userId, status, reason, requested_at AS requestedAt, resolved_at AS resolvedAt'
const toRedemption = (row: RedemptionRow): Redemption => ({
  redemptionId: uuidFromBytes(row.id),
  couponId: uuidFromBytes(row.couponId),
  userId: row.userId,
  status: row.status,
  reason: row.reason,
  requestedAt: row.requestedAt.toISOString(),
  resolvedAt: row.resolvedAt?.toISOString() ?? null,
})

type CouponRow = WithUuidBytes<Pick<Coupon, 'id' | 'kind' | 'period' | 'slot' | 'status' | 'amount' | 'issuedAt' | 'expiresAt' | 'redeemedAt'>, 'id'>

/**
 * Coupons and redemption requests. Raw mysql2 on the API pool: redeem is the hottest write
 * under load, and its statements are single-row conditional UPDATEs whose row count decides.
 */
export function createCouponRepository(pool: Pool) {
  async function findRedemptionByKey(userId: number, key: string): Promise<Redemption | null> {
    const [rows] = await pool.query<Rows<RedemptionRow>>(`SELECT ${redemptionColumns} FROM coupon_redemptions WHERE user_id = ? AND idempotency_key = ?`, [
      userId,
      key,
    ])
    return rows[0] ? toRedemption(rows[0]) : null
  }

  return {
    async findCoupon(id: string) {
      const [rows] = await pool.query<Rows<Pick<Coupon, 'userId'>>>('SELECT user_id AS userId FROM coupons WHERE id = ?', [uuidToBytes(id)])
      return rows[0] ? { userId: rows[0].userId } : null
    },

    async listCoupons(userId: number, status?: CouponStatus) {
      const [rows] = await pool.query<Rows<CouponRow>>(
        `SELECT id, kind, period, slot, status, amount, issued_at AS issuedAt, expires_at AS expiresAt, redeemed_at AS redeemedAt FROM coupons
         WHERE user_id = ? ${status ? 'AND status = ?' : ''} ORDER BY issued_at DESC, id`,
        status ? [userId, status] : [userId],
      )
      return rows.map((row) => ({
        ...row,
        id: uuidFromBytes(row.id),
        issuedAt: row.issuedAt.toISOString(),
        expiresAt: row.expiresAt.toISOString(),
        redeemedAt: row.redeemedAt?.toISOString() ?? null,
      }))
    },

    findRedemptionByKey,

    async findRedemption(id: string): Promise<Redemption | null> {
      const [rows] = await pool.query<Rows<RedemptionRow>>(`SELECT ${redemptionColumns} FROM coupon_redemptions WHERE id = ?`, [uuidToBytes(id)])
      return rows[0] ? toRedemption(rows[0]) : null
    },

    /** How many of this user's requests wait to be applied (idx_redemptions_status_user: a short range). */
    async countPending(userId: number): Promise<number> {
      const [[row]] = await pool.query<Rows<{ n: number }>>("SELECT COUNT(*) AS n FROM coupon_redemptions WHERE status = 'PENDING' AND user_id = ?", [userId])
      return row?.n ?? 0
    },

    /**
     * Records a request to apply later (DESIGN §6.4). The unique (user, key) decides between
     * concurrent duplicates: the loser gets the winner's row back.
     */
    async defer(couponId: string, userId: number, key: string): Promise<Redemption> {
      const id = uuidV7()
      await pool.query('INSERT IGNORE INTO coupon_redemptions (id, coupon_id, user_id, idempotency_key) VALUES (?, ?, ?, ?)', [
        uuidToBytes(id),
        uuidToBytes(couponId),
        userId,
        key,
      ])
      return (await findRedemptionByKey(userId, key))!
    },

    /**
     * Redeems now, in one short transaction with the request's record. Returns null when the
     * key was taken meanwhile (the caller re-reads it); throws a lock wait timeout to the caller,
     * which defers instead. The coupon row is locked before the request row is written: the
     * same order as the batch's chunk and the sweeper (coupons, then redemptions), so the three
     * never wait on each other in a cycle. A deadlock victim retries once.
     */
    async redeemNow(couponId: string, userId: number, key: string, attempt = 1): Promise<Redemption | null> {
      try {
        const recorded = await inTransaction(pool, async (conn) => {
          const [redeemed] = await conn.query<ResultSetHeader>(
            "UPDATE coupons SET status = 'REDEEMED', redeemed_at = NOW(6) WHERE id = ? AND user_id = ? AND status = 'ISSUED' AND expires_at >= NOW(6)",
            [uuidToBytes(couponId), userId],
          )
          let reason: RedemptionRejection | null = null
          if (redeemed.affectedRows !== 1) {
            const [[coupon]] = await conn.query<Rows<Pick<Coupon, 'status'> & { expired: 0 | 1 }>>(
              'SELECT status, expires_at < NOW(6) AS expired FROM coupons WHERE id = ?',
              [uuidToBytes(couponId)],
            )
            // The update found nothing to redeem, so some reason applies; not found if none other does.
            reason = rejectionReason(coupon ? { status: coupon.status, expired: coupon.expired === 1 } : null) ?? 'COUPON_NOT_FOUND'
          }
          try {
            await conn.query(
              'INSERT INTO coupon_redemptions (id, coupon_id, user_id, idempotency_key, status, reason, resolved_at) VALUES (?, ?, ?, ?, ?, ?, NOW(6))',
              [uuidToBytes(uuidV7()), uuidToBytes(couponId), userId, key, reason ? 'REJECTED' : 'REDEEMED', reason],
            )
          } catch (error) {
            // The key was recorded meanwhile: undo our redemption, the first request's answer stands.
            if (isDuplicateKey(error)) return null
            throw error
          }
          return true
        })
        return recorded ? findRedemptionByKey(userId, key) : null
      } catch (error) {
        if (isDeadlock(error) && attempt === 1) return this.redeemNow(couponId, userId, key, 2)
        throw error
      }
    },

    /**
     * Users with PENDING requests in this replica's share (user_id % size = rank) whose chunk the
     * batch is not rewriting (a RUNNING run targets them in a chunk with a step not DONE).
     * Excluded in the query, so however many in-batch users come first in the index, they never
     * fill the limit and starve the others.
     */
    async pendingUsers(rank: number, size: number, limit: number): Promise<number[]> {
      const [rows] = await pool.query<Rows<Pick<CouponRedemption, 'userId'>>>(
        `SELECT DISTINCT r.user_id AS userId FROM coupon_redemptions r
         WHERE r.status = 'PENDING' AND MOD(r.user_id, ?) = ? AND ${outsideBatch('r.user_id')}
         LIMIT ?`,
        [size, rank, limit],
      )
      return rows.map((row) => row.userId)
    },

    /**
     * Inside the sweeper's apply transaction: of these users, the ones it may apply for now. Their
     * rows are locked first (shared, SKIP LOCKED): a chunk writes `users` before it touches their
     * coupons, so a user a chunk is writing is skipped, and a chunk that reaches one of ours waits
     * for our commit. Then the batch tables are read again, after the lock (READ COMMITTED: a fresh
     * read), so a run published since pendingUsers chose them is seen. Either the run is seen or
     * its chunk comes after our commit: nothing is applied while the batch rewrites a user.
     */
    async lockUsersOutsideBatch(conn: PoolConnection, userIds: readonly number[]): Promise<number[]> {
      if (userIds.length === 0) return []
      const [locked] = await conn.query<Rows<Pick<User, 'id'>>>('SELECT id FROM users WHERE id IN (?) LOCK IN SHARE MODE SKIP LOCKED', [userIds])
      if (locked.length === 0) return []
      const [free] = await conn.query<Rows<Pick<User, 'id'>>>(`SELECT u.id FROM users u WHERE u.id IN (?) AND ${outsideBatch('u.id')}`, [
        locked.map((row) => row.id),
      ])
      return free.map((row) => row.id)
    },
  }
}

export type CouponRepository = ReturnType<typeof createCouponRepository>
