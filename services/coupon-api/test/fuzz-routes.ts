import { v7 as uuidv7 } from 'uuid'
import type { FuzzRoute } from '@commerce/kit/fuzz'

/**
 * coupon-api's routes for the fuzzer, on what the caller seeded: users, their ISSUED coupons (many:
 * valid redemptions use them up) and one redemption. The service's own fuzz test sends them to the
 * app, infra/local's edge test through nginx.
 */
export const couponFuzzRoutes = ({ users, coupons, redemption }: { users: readonly number[]; coupons: readonly string[]; redemption: string }): FuzzRoute[] => [
  { method: 'GET', path: '/users/:id/coupons', params: { id: users.map(String) }, query: { status: 'ISSUED' } },
  { method: 'POST', path: '/coupons/:id/redeem', params: { id: [...coupons, uuidv7()] }, headers: { 'idempotency-key': 'fuzz-key' } },
  { method: 'GET', path: '/redemptions/:id', params: { id: [redemption, uuidv7()] } },
]
