import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { eventEntries } from '@commerce/db'
import { errorResponses, errorSchema, instantSchema, kitErrors, uuidSchema } from '@commerce/kit'
import { isoMicros } from '../clock.ts'
import { eventErrors } from '../errors.ts'
import type { EventRecord } from '../event-repository.ts'
import { maskPhone, normaliseName, normalisePhone } from '../phone.ts'

const eventId = Type.Object({ id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) })
const eventSchema = Type.Object({
  id: Type.Integer(),
  title: Type.String(),
  opensAt: Type.String(),
  closesAt: Type.String(),
  winnerQuota: Type.Integer(),
  announceAt: Type.String(),
  status: Type.Enum(['SCHEDULED', 'ANNOUNCED']),
  entry: Type.Enum(eventEntries, { description: 'ACCOUNT: signed-in customers, one entry per account and per phone; PUBLIC: anyone, one per phone' }),
})
const receiptSchema = Type.String({ pattern: '^[A-Za-z0-9_-]{22}$', description: 'required to read the application’s result' })
const errors = errorResponses(400, 401, 403, 404, 409, 410, 429, 503)

const eventView = (event: EventRecord) => ({
  ...event,
  opensAt: event.opensAt.toISOString(),
  closesAt: event.closesAt.toISOString(),
  announceAt: event.announceAt.toISOString(),
})

/** Events, applying to one (DESIGN §6.6), an application's result, and the announced winners. */
export default async function eventRoutes(parent: FastifyInstance) {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>()
  const { repo, directory, desk, receipts, accountLimits } = app.eventApply

  app.post(
    '/events',
    {
      schema: {
        security: [{ bearer: [] }],
        body: Type.Object(
          {
            title: Type.String({ minLength: 1, maxLength: 100 }),
            opensAt: instantSchema,
            closesAt: instantSchema,
            winnerQuota: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
            announceAt: instantSchema,
            entry: Type.Optional(Type.Enum(eventEntries, { default: 'ACCOUNT' })),
          },
          { additionalProperties: false },
        ),
        response: { 201: eventSchema, ...errors },
      },
      // Before the body is read: a stranger gets 401/403 and learns nothing of its rules.
      onRequest: async (request) => {
        app.auth.requireAdmin(request)
      },
    },
    async (request, reply) => {
      const { title, winnerQuota, entry = 'ACCOUNT' } = request.body
      // instantSchema admits only text that parses, within what the events table stores.
      const [opensAt, closesAt, announceAt] = [request.body.opensAt, request.body.closesAt, request.body.announceAt].map((text) => new Date(text)) as [
        Date,
        Date,
        Date,
      ]
      if (!(opensAt < closesAt && closesAt <= announceAt)) throw eventErrors.INVALID_EVENT_WINDOW()
      const event = await repo.createEvent({ title, opensAt, closesAt, winnerQuota, announceAt, entry })
      return reply.code(201).header('location', `/events/${event.id}`).send(eventView(event))
    },
  )

  app.get('/events/:id', { schema: { params: eventId, response: { 200: eventSchema, ...errors } } }, async (request) => {
    const state = await directory.get(request.params.id)
    if (!state) throw eventErrors.EVENT_NOT_FOUND()
    return eventView(state.event)
  })

  app.post(
    '/events/:id/applications',
    {
      schema: {
        security: [{}, { bearer: [] }],
        params: eventId,
        body: Type.Object({ name: Type.String({ maxLength: 200 }), phone: Type.String({ maxLength: 32 }) }, { additionalProperties: false }),
        response: {
          201: Type.Object({ applicationId: uuidSchema, receivedAt: Type.String(), receipt: receiptSchema }),
          ...errors,
          // PHONE_ALREADY_ENTERED names nothing; DUPLICATE_APPLICATION names the entry, and its receipt to the same account.
          409: Type.Object({ ...errorSchema.properties, applicationId: Type.Optional(uuidSchema), receipt: Type.Optional(receiptSchema) }),
        },
      },
    },
    async (request, reply) => {
      const name = normaliseName(request.body.name)
      if (!name) throw kitErrors.VALIDATION('name must be 1–50 visible characters')
      const phone = normalisePhone(request.body.phone)
      if (!phone) throw kitErrors.VALIDATION('phone must be a Korean mobile number, e.g. 010-1234-5678')
      // A token is verified only when sent: an ACCOUNT event needs one (the desk says so), a PUBLIC one ignores it.
      const userId = request.headers.authorization === undefined ? null : app.auth.principal(request).userId
      // The replica knows the verified account, the edge only the address (nginx limits that).
      if (userId !== null && !accountLimits.take(String(userId))) throw kitErrors.TOO_MANY_REQUESTS('too many applications from this account; retry later')
      const application = await desk.apply(request.params.id, { name, phone, userId })
      return reply
        .code(201)
        .header('location', `/events/${application.eventId}/applications/${application.id}`)
        .send({ applicationId: application.id, receivedAt: isoMicros(application.receivedAtMicros), receipt: application.receipt })
    },
  )

  app.get(
    '/events/:id/applications/:applicationId',
    {
      schema: {
        params: Type.Object({ id: eventId.properties.id, applicationId: uuidSchema }),
        headers: Type.Object({ 'application-receipt': Type.Optional(Type.String({ maxLength: 64 })) }),
        response: { 200: Type.Object({ applicationId: uuidSchema, status: Type.Enum(['PENDING', 'WON', 'LOST']) }), ...errors },
      },
    },
    async (request) => {
      const applicationId = request.params.applicationId.toLowerCase()
      // Without the application's receipt it does not exist, for an owner who lost it and a stranger alike.
      if (!receipts.check(request.params.id, applicationId, request.headers['application-receipt'])) throw eventErrors.APPLICATION_NOT_FOUND()
      const found = await repo.applicationStatus(request.params.id, applicationId)
      if (!found) throw eventErrors.APPLICATION_NOT_FOUND()
      return { applicationId, status: !found.announced ? ('PENDING' as const) : found.won ? ('WON' as const) : ('LOST' as const) }
    },
  )

  app.get(
    '/events/:id/winners',
    {
      schema: {
        params: eventId,
        response: {
          200: Type.Object({ eventId: Type.Integer(), winners: Type.Array(Type.Object({ rank: Type.Integer(), name: Type.String(), phone: Type.String() })) }),
          ...errors,
        },
      },
    },
    async (request) => {
      const state = await directory.get(request.params.id)
      if (!state) throw eventErrors.EVENT_NOT_FOUND()
      // The directory's row may be a refresh old; the draw is rare, so ask the database itself.
      // announce_at is compared on the database's clock (this replica's, corrected), as every
      // other instant here: a replica whose host clock runs ahead must not show winners early.
      const [event] = await repo.findEvents([request.params.id])
      if (event?.status !== 'ANNOUNCED' || event.announceAt.getTime() > app.clock.nowMs()) throw eventErrors.NOT_ANNOUNCED()
      const winners = await repo.winners(event.id)
      return { eventId: event.id, winners: winners.map((w) => ({ ...w, phone: maskPhone(w.phone) })) }
    },
  )
}
