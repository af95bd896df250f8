/** Why a deferred redemption was refused; the same codes the API answers with 409/404. */
export type RedemptionRejection = 'COUPON_REVOKED' | 'COUPON_ALREADY_REDEEMED' | 'COUPON_EXPIRED' | 'COUPON_NOT_FOUND'

/**
 * Why a coupon cannot be redeemed now, or null when it can: the one rule the API (redeeming
 * directly) and the batch and sweeper (applying deferred requests) share.
 */
export function rejectionReason(coupon: { status: 'ISSUED' | 'REDEEMED' | 'REVOKED'; expired: boolean } | null): RedemptionRejection | null {
  if (!coupon) return 'COUPON_NOT_FOUND'
  if (coupon.status === 'REVOKED') return 'COUPON_REVOKED'
  if (coupon.status === 'REDEEMED') return 'COUPON_ALREADY_REDEEMED'
  if (coupon.expired) return 'COUPON_EXPIRED'
  return null
}
