import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { grades, periodPattern } from '@commerce/domain'
import { errorSchema } from '@commerce/kit'
import { batchErrors } from '../errors.ts'
import { strategyNameSchema } from '../config.ts'
import { readRunStatus } from '../job/progress.ts'
import { runProgressSchema, workerPaceSchema } from '../schemas.ts'

// The shape only: a year before 1970 passes here so that the run's admission answers INVALID_PERIOD.
const periodSchema = Type.String({ pattern: periodPattern.source, description: 'YYYY-MM, a month of the business time zone' })
const runStatusSchema = Type.Object({
  ...runProgressSchema.properties,
  pacing: Type.Array(workerPaceSchema, { description: 'while RUNNING: the pace each live worker reported' }),
})
const gradeSchema = Type.Enum(grades)
const planPreviewSchema = Type.Object({
  period: Type.String(),
  dryRun: Type.Literal(true),
  targets: Type.Integer(),
  chunks: Type.Integer(),
  couponsToIssue: Type.Integer(),
  moves: Type.Array(Type.Object({ from: gradeSchema, to: gradeSchema, users: Type.Integer() })),
})
// One object, not a union: ajv's removeAdditional would strip `reason` while trying the first branch.
const runRequestSchema = Type.Object(
  {
    period: periodSchema,
    strategy: Type.Optional(strategyNameSchema),
    // A period older than an existing run overwrites newer grades: only forced, with a reason kept on the run.
    force: Type.Optional(Type.Boolean({ default: false })),
    // Its rule (trimmed, 10 to 500 characters, only with force) is job/admission.ts forceReasonOf, shared by every path.
    reason: Type.Optional(Type.String({ description: 'required with force, refused without it: 10 to 500 characters once trimmed' })),
  },
  { additionalProperties: false },
)

/** Operator routes of the daemon: request a run (admin), read a run's progress. */
export default async function runRoutes(parent: FastifyInstance, { heartbeatMs }: { heartbeatMs: number }) {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>()

  app.post(
    '/runs',
    {
      schema: {
        body: runRequestSchema,
        querystring: Type.Object(
          { dryRun: Type.Boolean({ default: false, description: 'answer the plan (targets, grade moves) and write nothing' }) },
          { additionalProperties: false },
        ),
        response: { 200: planPreviewSchema, 202: runStatusSchema, 400: errorSchema, 401: errorSchema, 403: errorSchema },
      },
      // Before the body is read: a stranger gets 401/403 and learns nothing of its rules.
      onRequest: async (request) => {
        app.auth.requireAdmin(request)
      },
    },
    async (request, reply) => {
      if (request.query.dryRun) return reply.code(200).send(await app.runner.preview(request.body))
      const run = await app.runner.request(request.body, request.body.strategy)
      const status = await readRunStatus(app.pool, { id: run.id }, { heartbeatMs: heartbeatMs })
      return reply.code(202).header('location', `/runs/${run.id}`).send(status!)
    },
  )

  app.get(
    '/runs/:id',
    { schema: { params: Type.Object({ id: Type.Integer({ minimum: 1 }) }), response: { 200: runStatusSchema, 404: errorSchema } } },
    async (request) => {
      const status = await readRunStatus(app.pool, { id: request.params.id }, { heartbeatMs: heartbeatMs })
      if (!status) throw batchErrors.RUN_NOT_FOUND()
      return status
    },
  )

  app.get(
    '/runs',
    { schema: { querystring: Type.Object({ period: periodSchema }), response: { 200: runStatusSchema, 404: errorSchema } } },
    async (request) => {
      const status = await readRunStatus(app.pool, { period: request.query.period }, { heartbeatMs: heartbeatMs })
      if (!status) throw batchErrors.RUN_NOT_FOUND(`no run for ${request.query.period}`)
      return status
    },
  )
}
