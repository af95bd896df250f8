import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { errorResponses, idempotencyKeySchema, kitErrors, periodSchema } from '@commerce/kit'
import { grades, parsePeriod } from '@commerce/domain'
import { userErrors } from '../errors.ts'
import { createUserRepository, type PlacedOrder } from '../users.ts'

const gradeSchema = Type.Enum(grades)
const userIdParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) })
const errors = errorResponses(400, 401, 403, 404, 409, 503)
const security = [{ bearer: [] }]

/** Profile, grade history and orders of a user: the user themself or an admin (DESIGN §7). */
export default async function userRoutes(parent: FastifyInstance) {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>()
  const users = createUserRepository(app.pool)
  // recalculating: a memory lookup in the guard's view, no database I/O (DESIGN §6.3).
  const recalculating = (userId: number) => app.batchGuard.inBatch(userId) !== null

  app.get(
    '/users/:id',
    {
      schema: {
        security,
        params: userIdParams,
        response: {
          200: Type.Object({
            id: Type.Integer(),
            name: Type.String(),
            grade: gradeSchema,
            gradeUpdatedAt: Type.Union([Type.String(), Type.Null()]),
            recalculating: Type.Boolean(),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const { id } = request.params
      app.auth.requireSelfOrAdmin(request, id)
      const user = await users.find(id)
      if (!user) throw userErrors.USER_NOT_FOUND()
      return { ...user, recalculating: recalculating(id) }
    },
  )

  app.get(
    '/users/:id/grade-history',
    {
      schema: {
        security,
        params: userIdParams,
        response: {
          200: Type.Object({
            history: Type.Array(
              Type.Object({
                period: Type.String(),
                fromGrade: gradeSchema,
                toGrade: gradeSchema,
                total: Type.Integer(),
                orderCount: Type.Integer(),
                createdAt: Type.String(),
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
      const history = await users.gradeHistory(id)
      if (history.length === 0 && !(await users.exists(id))) throw userErrors.USER_NOT_FOUND()
      return { history, recalculating: recalculating(id) }
    },
  )

  const orderSchema = Type.Object({
    id: Type.Integer(),
    amount: Type.Integer(),
    category: Type.String(),
    status: Type.Union([Type.Literal('PAID'), Type.Literal('CANCELLED')]),
    orderedAt: Type.String(),
  })

  app.post(
    '/users/:id/orders',
    {
      schema: {
        security,
        params: userIdParams,
        // Optional: a client that retries sends one, and a retry then places no second order.
        headers: Type.Object({ 'idempotency-key': Type.Optional(idempotencyKeySchema) }),
        body: Type.Object({
          amount: Type.Integer({ minimum: 100, maximum: 100_000_000 }),
          category: Type.String({ minLength: 1, maxLength: 20, pattern: '^[^\\p{Cc}\\p{Cf}]+$' }),
        }),
        response: { 201: Type.Intersect([orderSchema, Type.Object({ userId: Type.Integer() })]), ...errors },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      // Orders are placed by the customer only: an admin reads anyone's, but never buys for them.
      const who = app.auth.principal(request)
      if (who.userId !== id) throw kitErrors.FORBIDDEN('orders are placed by the user themself')
      if (!(await users.exists(id))) throw userErrors.USER_NOT_FOUND()
      const { amount, category } = request.body
      const key = request.headers['idempotency-key']
      /** A replay answers the order its key placed; the same key with another body is refused. */
      const replay = (order: PlacedOrder) => {
        if (order.amount !== amount || order.category !== category) throw userErrors.IDEMPOTENCY_KEY_REUSED()
        return reply.code(201).send(order)
      }
      const first = key === undefined ? null : await users.orderByKey(id, key)
      if (first) return replay(first)
      const placed = await users.placeOrder(id, amount, category, key)
      // null: a concurrent duplicate recorded the key first (committed, or ours would not have failed).
      return placed ? reply.code(201).send(placed) : replay((await users.orderByKey(id, key!))!)
    },
  )

  app.get(
    '/users/:id/orders',
    {
      schema: {
        security,
        params: userIdParams,
        querystring: Type.Object({
          period: periodSchema,
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
        }),
        response: { 200: Type.Object({ orders: Type.Array(orderSchema), total: Type.Integer(), count: Type.Integer() }), ...errors },
      },
    },
    async (request) => {
      const { id } = request.params
      app.auth.requireSelfOrAdmin(request, id)
      if (!(await users.exists(id))) throw userErrors.USER_NOT_FOUND()
      const range = parsePeriod(request.query.period)!
      const found = await users.ordersIn(id, range, request.query.limit)
      return { orders: found.orders, total: found.paidTotal, count: found.paidCount }
    },
  )
}
