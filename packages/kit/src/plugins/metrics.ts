import fp from 'fastify-plugin'
import { notShed } from './health.ts'
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export function createMetrics(service: string) {
  // One registry per app (not prom-client's global one) so tests can build many apps.
  const registry = new Registry()
  registry.setDefaultLabels({ service })
  collectDefaultMetrics({ register: registry })
  return {
    registry,
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    httpErrors: new Counter({
      name: 'http_errors_total',
      help: 'Responses with an error code, by code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ReturnType<typeof createMetrics>
  }
}

/** Prometheus metrics: request latency per route, plus process and event-loop metrics. */
export default fp<{ service: string }>(
  async (app, { service }) => {
    const metrics = createMetrics(service)
    app.decorate('metrics', metrics)
    app.addHook('onResponse', async (request, reply) => {
      metrics.httpDuration.observe(
        { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: reply.statusCode },
        reply.elapsedTime / 1000,
      )
    })
    // Not shed under pressure either: the scrape is how an operator sees the pressure.
    app.get('/metrics', { config: { pressureHandler: notShed } }, async (_request, reply) => {
      reply.type(metrics.registry.contentType)
      return metrics.registry.metrics()
    })
  },
  { name: 'metrics' },
)
