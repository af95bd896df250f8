import t from 'tap'
import { rejectionReason } from '../src/redemption.ts'

t.test('a coupon is redeemable only when it exists, is ISSUED and has not expired; otherwise the reason, revoked first', async (t) => {
  t.equal(rejectionReason({ status: 'ISSUED', expired: false }), null)
  t.equal(rejectionReason(null), 'COUPON_NOT_FOUND')
  t.equal(rejectionReason({ status: 'REVOKED', expired: true }), 'COUPON_REVOKED')
  t.equal(rejectionReason({ status: 'REDEEMED', expired: true }), 'COUPON_ALREADY_REDEEMED')
  t.equal(rejectionReason({ status: 'ISSUED', expired: true }), 'COUPON_EXPIRED')
})
