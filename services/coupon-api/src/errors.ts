import { defineErrors } from '@commerce/kit'

/** coupon-api's error codes (the kit's VALIDATION, UNAUTHORIZED, FORBIDDEN, … apply too). */
export const couponErrors = defineErrors({
  COUPON_NOT_FOUND: [404, 'no such coupon'],
  COUPON_REVOKED: [409, 'the coupon was revoked'],
  COUPON_ALREADY_REDEEMED: [409, 'the coupon was already redeemed'],
  COUPON_EXPIRED: [409, 'the coupon has expired'],
  IDEMPOTENCY_KEY_REUSED: [409, 'this Idempotency-Key was used for another coupon'],
  REDEMPTION_NOT_FOUND: [404, 'no such redemption'],
  TOO_MANY_PENDING: [429, 'too many of this user’s redemptions are waiting to be applied; retry once they are'],
})
