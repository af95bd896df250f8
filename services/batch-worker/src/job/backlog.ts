import type { Pool, Rows } from '@commerce/db'

// Placeholder until the alerts branch lands its version (same signatures).
export interface DeferredRedemptions {
  pending: number
  oldestPendingSeconds: number | null
  appliedLastMinute: number
}

export async function readDeferredRedemptions(pool: Pool): Promise<DeferredRedemptions> {
  const [rows] = await pool.query<Rows<{ pending: number; oldest: string | null }>>(
    `SELECT COUNT(*) AS pending, TIMESTAMPDIFF(MICROSECOND, MIN(requested_at), NOW(6)) / 1e6 AS oldest
     FROM coupon_redemptions WHERE status = 'PENDING'`,
  )
  const row = rows[0]
  return { pending: Number(row?.pending ?? 0), oldestPendingSeconds: row?.oldest == null ? null : Number(row.oldest), appliedLastMinute: 0 }
}
