import fp from 'fastify-plugin'
import { createCouponRepository } from '../coupon-repository.ts'

declare module 'fastify' {
  interface FastifyInstance {
    coupons: ReturnType<typeof createCouponRepository>
  }
}

/** The coupon repository over the API pool, shared by the routes and the sweeper. */
export default fp(
  async (app) => {
    app.decorate('coupons', createCouponRepository(app.pool))
  },
  { name: 'coupons', dependencies: ['db'] },
)
