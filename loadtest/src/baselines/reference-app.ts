import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { createCouponRepository } from '@commerce/coupon-api/coupon-repository'
import { createPool, uuidV7 } from '@commerce/db'
import { createEventRepository, type EventRecord } from '@commerce/event-apply/event-repository'
import { normaliseName, normalisePhone } from '@commerce/event-apply/phone'
import { createTokenVerifier } from '@commerce/kit'
import { createUserRepository } from '@commerce/user-api/users'

// The request-cost bench's floor: a bare Fastify app serving the hot routes with the services'
// own SQL (their repositories, on the same pool settings) and the same token check, and nothing
// else: no plugins, hooks, schemas, logging, metrics, batch guard, membership or group commit.
// One entry serves every route, so the stack runs it in place of each API service behind the
// same nginx. Env: PORT, HOST, DATABASE_URL, AUTH_SECRET.

const pool = createPool({ url: process.env.DATABASE_URL!, role: 'api' })
const users = createUserRepository(pool)
const coupons = createCouponRepository(pool)
const events = createEventRepository(pool)
const verify = createTokenVerifier(process.env.AUTH_SECRET!)
const instanceId = randomUUID()
const app = Fastify()

const refuse = (reply: FastifyReply, status: number, code: string) => reply.code(status).send({ code, message: code })

/** The caller's user id when the bearer token verifies and names `userId`; otherwise answers 401/403 itself. */
function self(request: FastifyRequest, reply: FastifyReply, userId: number): boolean {
  try {
    const principal = verify((request.headers.authorization ?? '').replace(/^Bearer /, ''))
    if (principal.userId === userId) return true
    refuse(reply, 403, 'FORBIDDEN')
  } catch {
    refuse(reply, 401, 'UNAUTHORIZED')
  }
  return false
}

app.get('/ready', async () => ({ status: 'ok', service: 'reference', instanceId }))

app.get<{ Params: { id: string } }>('/users/:id', async (request, reply) => {
  const id = Number(request.params.id)
  if (!self(request, reply, id)) return reply
  const user = await users.find(id)
  return user ? { ...user, recalculating: false } : refuse(reply, 404, 'USER_NOT_FOUND')
})

app.get<{ Params: { id: string }; Querystring: { status?: 'ISSUED' | 'REDEEMED' | 'REVOKED' } }>('/users/:id/coupons', async (request, reply) => {
  const id = Number(request.params.id)
  if (!self(request, reply, id)) return reply
  return { coupons: await coupons.listCoupons(id, request.query.status), recalculating: false }
})

app.post<{ Params: { id: string } }>('/coupons/:id/redeem', async (request, reply) => {
  const couponId = request.params.id.toLowerCase()
  const key = String(request.headers['idempotency-key'] ?? '')
  const coupon = await coupons.findCoupon(couponId)
  if (!coupon) return refuse(reply, 404, 'COUPON_NOT_FOUND')
  if (!self(request, reply, coupon.userId)) return reply
  const done =
    (await coupons.findRedemptionByKey(coupon.userId, key)) ??
    (await coupons.redeemNow(couponId, coupon.userId, key)) ??
    (await coupons.findRedemptionByKey(coupon.userId, key))
  if (!done) return refuse(reply, 404, 'REDEMPTION_NOT_FOUND')
  if (done.status === 'REDEEMED') return { redemptionId: done.redemptionId, status: done.status }
  return refuse(reply, 409, done.reason ?? 'COUPON_NOT_FOUND')
})

app.post<{ Params: { id: string }; Body: { amount: number; category: string } }>('/users/:id/orders', async (request, reply) => {
  const id = Number(request.params.id)
  if (!self(request, reply, id)) return reply
  if (!(await users.exists(id))) return refuse(reply, 404, 'USER_NOT_FOUND')
  const order = await users.placeOrder(id, request.body.amount, request.body.category)
  return reply.code(201).send(order)
})

/** Each event once, with its committed count; this replica's own inserts count at once. */
const known = new Map<number, Promise<{ event: EventRecord; committed: number } | null>>()
const eventState = (id: number) => {
  let state = known.get(id)
  if (!state) {
    state = events.findEvents([id]).then(async ([event]) => (event ? { event, committed: await events.countApplications(id, event.winnerQuota) } : null))
    known.set(id, state)
  }
  return state
}
let replicaSeq = 0

app.post<{ Params: { id: string }; Body: { name: string; phone: string } }>('/events/:id/applications', async (request, reply) => {
  const receivedAtMicros = Date.now() * 1000
  replicaSeq += 1
  const name = normaliseName(String(request.body.name))
  const phone = normalisePhone(String(request.body.phone))
  if (!name || !phone) return refuse(reply, 400, 'VALIDATION')
  const eventId = Number(request.params.id)
  const state = await eventState(eventId)
  if (!state) return refuse(reply, 404, 'EVENT_NOT_FOUND')
  if (state.committed >= state.event.winnerQuota || receivedAtMicros / 1000 >= state.event.closesAt.getTime()) return refuse(reply, 410, 'EVENT_CLOSED')
  const application = { id: uuidV7(), eventId, name, phone, userId: null, receivedAtMicros, replicaId: instanceId, replicaSeq }
  const [outcome] = await events.insertApplications([application])
  if (outcome?.kind === 'duplicate')
    return reply.code(409).send({ code: 'DUPLICATE_APPLICATION', message: 'already applied', applicationId: outcome.applicationId })
  if (outcome?.kind !== 'inserted') return refuse(reply, 410, 'EVENT_CLOSED')
  state.committed += 1
  return reply.code(201).send({ applicationId: application.id, receivedAt: new Date(receivedAtMicros / 1000).toISOString() })
})

await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' })
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void app.close().then(() => pool.end())
  })
}
