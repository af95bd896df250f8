import type { FastifyInstance, FastifyReply } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { Counter } from 'prom-client'
import { couponStatuses, isLockWaitTimeout } from '@commerce/db'
import { errorResponses, idempotencyKeySchema, kitErrors, uuidSchema } from '@commerce/kit'
import type { Config } from '../config.ts'
import type { Redemption } from '../coupon-repository.ts'
import { couponErrors } from '../errors.ts'

const nullableString = Type.Union([Type.String(), Type.Null()])
const errors = errorResponses(400, 401, 403, 404, 409, 503)
const security = [{ bearer: [] }]
const outcomeSchema = Type.Object({ redemptionId: uuidSchema, status: Type.Enum(['PENDING', 'REDEEMED']) })

/** Coupons of a user, redeeming one (DESIGN §6.4), and reading a redemption request. */
export default async function couponRoutes(parent: FastifyInstance, { config }: { config: Config }) {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>()
  // Redemptions between redeemNow's start and end on this replica (the bulkhead's count).
  let redeemsInFlight = 0
  const deferred = new Counter({
    name: 'coupon_redemptions_deferred_total',
    help: 'Redemptions answered 202 and applied later',
    labelNames: ['why'] as const,
    registers: [app.metrics.registry],
  })

  app.get(
    '/users/:id/coupons',
    {
      schema: {
        security,
        params: Type.Object({ id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) }),
        querystring: Type.Object({ status: Type.Optional(Type.Enum(couponStatuses)) }),
        response: {
          200: Type.Object({
            coupons: Type.Array(
              Type.Object({
                id: uuidSchema,
                kind: Type.String(),
                period: Type.String(),
                slot: Type.Integer(),
                status: Type.Enum(couponStatuses),
                amount: Type.Integer(),
                issuedAt: Type.String(),
                expiresAt: Type.String(),
                redeemedAt: nullableString,
              }),
            ),
            recalculating: Type.Boolean(),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const { id } = request.params
      app.auth.requireSelfOrAdmin(request, id)
      // Committed snapshot; the guard's view says whether the batch is rewriting it now.
      return { coupons: await app.coupons.listCoupons(id, request.query.status), recalculating: app.batchGuard.inBatch(id) !== null }
    },
  )

  /**
   * The same answer for every replay of one request: 202 pending, 200 redeemed, 409 why not.
   * Every path ends here with the request its key recorded, maybe by a concurrent request: a
   * record for another coupon is a reused key, never this request's answer.
   */
  function answer(reply: FastifyReply, couponId: string, redemption: Redemption) {
    if (redemption.couponId !== couponId) throw couponErrors.IDEMPOTENCY_KEY_REUSED()
    if (redemption.status === 'PENDING') {
      return reply
        .code(202)
        .header('location', `/redemptions/${redemption.redemptionId}`)
        .send({ redemptionId: redemption.redemptionId, status: 'PENDING' as const })
    }
    if (redemption.status === 'REDEEMED') return reply.code(200).send({ redemptionId: redemption.redemptionId, status: 'REDEEMED' as const })
    throw couponErrors[redemption.reason ?? 'COUPON_NOT_FOUND']()
  }

  app.post(
    '/coupons/:id/redeem',
    {
      schema: {
        security,
        params: Type.Object({ id: uuidSchema }),
        headers: Type.Object({ 'idempotency-key': idempotencyKeySchema }),
        response: { 200: outcomeSchema, 202: outcomeSchema, ...errors, ...errorResponses(429) },
      },
    },
    async (request, reply) => {
      const who = app.auth.principal(request)
      const couponId = request.params.id.toLowerCase()
      const key = request.headers['idempotency-key']
      const coupon = await app.coupons.findCoupon(couponId)
      if (!coupon) throw couponErrors.COUPON_NOT_FOUND()
      if (coupon.userId !== who.userId) throw kitErrors.FORBIDDEN('only the coupon owner may redeem it')

      const replay = await app.coupons.findRedemptionByKey(who.userId, key)
      if (replay) return answer(reply, couponId, replay)
      /** Records the request durably and answers 202; the batch or the sweeper applies it later. */
      const defer = async (why: 'in-batch' | 'stale-view' | 'busy' | 'lock-timeout') => {
        // Bounds what one client retrying with fresh keys leaves for a chunk's transaction to apply.
        // A plain read, so never a lock wait: concurrent fresh keys may pass it together, the bound
        // is the cap plus the user's requests in flight.
        if ((await app.coupons.countPending(who.userId)) >= config.COUPON_MAX_PENDING_PER_USER) throw couponErrors.TOO_MANY_PENDING()
        deferred.inc({ why })
        return answer(reply, couponId, await app.coupons.defer(couponId, who.userId, key))
      }
      // In batch: no touching the rows the batch rewrites.
      if (app.batchGuard.inBatch(who.userId)) return defer('in-batch')
      // A view that stopped refreshing may miss a run published since: the sweeper, which reads the batch tables, decides.
      if (app.batchGuard.stale()) return defer('stale-view')
      // Bulkhead: lock waits never hold more than this share of the pool (a 202 costs no lock).
      if (redeemsInFlight >= config.COUPON_REDEEM_CONCURRENCY) return defer('busy')
      redeemsInFlight += 1
      try {
        const done = (await app.coupons.redeemNow(couponId, who.userId, key)) ?? (await app.coupons.findRedemptionByKey(who.userId, key))
        if (!done) throw couponErrors.REDEMPTION_NOT_FOUND()
        return answer(reply, couponId, done)
      } catch (error) {
        // A stale guard view met the batch's row lock: defer rather than wait or fail.
        if (!isLockWaitTimeout(error)) throw error
        return defer('lock-timeout')
      } finally {
        redeemsInFlight -= 1
      }
    },
  )

  app.get(
    '/redemptions/:id',
    {
      schema: {
        security,
        params: Type.Object({ id: uuidSchema }),
        response: {
          200: Type.Object({
            redemptionId: uuidSchema,
            couponId: uuidSchema,
            status: Type.Enum(['PENDING', 'REDEEMED', 'REJECTED']),
            reason: nullableString,
            requestedAt: Type.String(),
            resolvedAt: nullableString,
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const redemption = await app.coupons.findRedemption(request.params.id.toLowerCase())
      if (!redemption) throw couponErrors.REDEMPTION_NOT_FOUND()
      app.auth.requireSelfOrAdmin(request, redemption.userId)
      const { userId: _owner, ...visible } = redemption
      return visible
    },
  )
}
