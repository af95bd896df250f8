import fp from 'fastify-plugin'
import { Type } from 'typebox'
import { databaseTopology, topologyProblem } from '@commerce/db'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { kitErrors } from '../errors.ts'
import { errorSchema } from '../schemas.ts'

const healthSchema = Type.Object({
  status: Type.Literal('ok'),
  service: Type.String(),
  instanceId: Type.String(),
})

/**
 * Liveness (the process answers) and readiness (database reachable — on Galera, a Synced node of
 * the Primary component whose clock is near the other nodes' — registered, clock within its bound).
 */
export default fp<{ service: string }>(
  async (parent, { service }) => {
    const app = parent.withTypeProvider<TypeBoxTypeProvider>()
    const ok = () => ({ status: 'ok' as const, service, instanceId: app.membership.id })

    // Never shed: a liveness probe answered 503 under load
    // would have the orchestrator restart a replica exactly when it is busiest. /ready may shed.
    app.get('/health', { schema: { response: { 200: healthSchema } }, config: { shed: false } }, async () => ok())

    app.get('/ready', { schema: { response: { 200: healthSchema, 503: errorSchema } } }, async (_request, reply) => {
      // Sent here rather than thrown: the reason is the point of the answer, and the error handler
      // hides 5xx messages.
      const notReady = (reason: string) => reply.code(503).send({ code: kitErrors.NOT_READY().code, message: reason })
      if (!app.membership.isRegistered()) return notReady('not registered in the cluster yet')
      const clockProblem = app.nodeClocks.untrusted() ?? app.clock.untrusted()
      if (clockProblem) return notReady(clockProblem)
      let problem: string | undefined
      try {
        problem = topologyProblem(await databaseTopology(app.pool))
      } catch {
        problem = 'database unreachable'
      }
      if (problem) {
        reply.header('retry-after', '1')
        return notReady(problem)
      }
      return ok()
    })
  },
  { name: 'health', dependencies: ['db', 'membership', 'clock'] },
)
