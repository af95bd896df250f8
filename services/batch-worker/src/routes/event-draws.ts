import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { errorSchema } from '@commerce/kit'
import { batchErrors } from '../errors.ts'

/** The admin's draw: the same idempotent draw the daemon runs at announce_at. */
export default async function eventRoutes(parent: FastifyInstance) {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>()

  app.post(
    '/events/:id/draw',
    {
      schema: {
        security: [{ bearer: [] }],
        params: Type.Object({ id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) }),
        response: {
          200: Type.Object({ eventId: Type.Integer(), outcome: Type.Enum(['DRAWN', 'ALREADY_DRAWN']), winners: Type.Integer() }),
          400: errorSchema,
          401: errorSchema,
          403: errorSchema,
          404: errorSchema,
          409: errorSchema,
        },
      },
      // Before anything is parsed: a stranger gets 401/403 and learns nothing of the rules.
      onRequest: async (request) => {
        app.auth.requireAdmin(request)
      },
    },
    async (request) => {
      const result = await app.eventScheduler.draw(request.params.id)
      if (result.outcome === 'NOT_FOUND') throw batchErrors.EVENT_NOT_FOUND()
      if (result.outcome === 'STILL_OPEN') throw batchErrors.EVENT_STILL_OPEN()
      return { eventId: request.params.id, outcome: result.outcome, winners: result.winners }
    },
  )
}
