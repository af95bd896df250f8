import { v7 as uuidv7 } from 'uuid'
import {
  inTransaction,
  isDeadlock,
  uuidFromBytes,
  uuidToBytes,
  type CouponStatus,
  type Pool,
  type PoolConnection,
  type ResultSetHeader,
  type RowDataPacket,
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

const iso = (value: unknown) => (value instanceof Date ? value.toISOString() : null)
const toRedemption = (row: RowDataPacket): Redemption => ({
  redemptionId: uuidFromBytes(row.id as Buffer),
  couponId: uuidFromBytes(row.coupon_id as Buffer),
  userId: row.user_id as number,
  status: row.status as Redemption['status'],
  reason: (row.reason as RedemptionRejection | null) ?? null,
  requestedAt: iso(row.requested_at)!,
  resolvedAt: iso(row.resolved_at),
})
const redemptionColumns = 'id, coupon_id, user_id, status, reason, requested_at, resolved_at'

/** The MySQL error a statement raises when it gave up waiting for a row lock. */
export const isLockWaitTimeout = (error: unknown) => (error as { code?: string }).code === 'ER_LOCK_WAIT_TIMEOUT'
const isDuplicateKey = (error: unknown) => (error as { code?: string }).code === 'ER_DUP_ENTRY'

/**
 * Coupons and redemption requests. Raw mysql2 on the API pool: redeem is the hottest write
 * under load, and its statements are single-row conditional UPDATEs whose row count decides.
 */
export function createCouponRepository(pool: Pool) {
  async function findRedemptionByKey(userId: number, key: string): Promise<Redemption | null> {
    const [rows] = await pool.query<RowDataPacket[]>(`SELECT ${redemptionColumns} FROM coupon_redemptions WHERE user_id = ? AND idempotency_key = ?`, [
      userId,
      key,
    ])
    return rows[0] ? toRedemption(rows[0]) : null
  }

  return {
    async findCoupon(id: string) {
      const [rows] = await pool.query<RowDataPacket[]>('SELECT user_id FROM coupons WHERE id = ?', [uuidToBytes(id)])
      return rows[0] ? { userId: rows[0].user_id as number } : null
    },

    async listCoupons(userId: number, status?: CouponStatus) {
      const [rows] = await pool.query<RowDataPacket[]>(
        `SELECT id, kind, period, slot, status, amount, issued_at, expires_at, redeemed_at FROM coupons
         WHERE user_id = ? ${status ? 'AND status = ?' : ''} ORDER BY issued_at DESC, id`,
        status ? [userId, status] : [userId],
      )
      return rows.map((row) => ({
        id: uuidFromBytes(row.id as Buffer),
        kind: row.kind as string,
        period: row.period as string,
        slot: row.slot as number,
        status: row.status as CouponStatus,
        amount: row.amount as number,
        issuedAt: iso(row.issued_at)!,
        expiresAt: iso(row.expires_at)!,
        redeemedAt: iso(row.redeemed_at),
      }))
    },

    findRedemptionByKey,

    async findRedemption(id: string): Promise<Redemption | null> {
      const [rows] = await pool.query<RowDataPacket[]>(`SELECT ${redemptionColumns} FROM coupon_redemptions WHERE id = ?`, [uuidToBytes(id)])
      return rows[0] ? toRedemption(rows[0]) : null
    },

    /**
     * Records a request to apply later (DESIGN §6.4). The unique (user, key) decides between
     * concurrent duplicates: the loser gets the winner's row back.
     */
    async defer(couponId: string, userId: number, key: string): Promise<Redemption> {
      const id = uuidv7()
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
            const [[coupon]] = await conn.query<RowDataPacket[]>('SELECT status, expires_at < NOW(6) AS expired FROM coupons WHERE id = ?', [
              uuidToBytes(couponId),
            ])
            // The update found nothing to redeem, so some reason applies; not found if none other does.
            reason = rejectionReason(coupon ? { status: coupon.status as CouponStatus, expired: coupon.expired === 1 } : null) ?? 'COUPON_NOT_FOUND'
          }
          try {
            await conn.query(
              'INSERT INTO coupon_redemptions (id, coupon_id, user_id, idempotency_key, status, reason, resolved_at) VALUES (?, ?, ?, ?, ?, ?, NOW(6))',
              [uuidToBytes(uuidv7()), uuidToBytes(couponId), userId, key, reason ? 'REJECTED' : 'REDEEMED', reason],
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
      const [rows] = await pool.query<RowDataPacket[]>(
        `SELECT DISTINCT r.user_id FROM coupon_redemptions r
         WHERE r.status = 'PENDING' AND MOD(r.user_id, ?) = ? AND ${outsideBatch('r.user_id')}
         LIMIT ?`,
        [size, rank, limit],
      )
      return rows.map((row) => row.user_id as number)
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
      const [locked] = await conn.query<RowDataPacket[]>('SELECT id FROM users WHERE id IN (?) LOCK IN SHARE MODE SKIP LOCKED', [userIds])
      if (locked.length === 0) return []
      const [free] = await conn.query<RowDataPacket[]>(`SELECT u.id FROM users u WHERE u.id IN (?) AND ${outsideBatch('u.id')}`, [
        locked.map((row) => row.id as number),
      ])
      return free.map((row) => row.id as number)
    },
  }
}

export type CouponRepository = ReturnType<typeof createCouponRepository>
