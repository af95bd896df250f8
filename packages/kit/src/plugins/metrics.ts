import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { EventLoopMonitor, LoopDelays } from './event-loop.ts'

/** prom-client's event-loop delay gauges, fed here by plugins/event-loop.ts's monitor instead of its own. */
const loopDelayGauges: Record<keyof LoopDelays, string> = {
  min: 'nodejs_eventloop_lag_min_seconds',
  max: 'nodejs_eventloop_lag_max_seconds',
  mean: 'nodejs_eventloop_lag_mean_seconds',
  stddev: 'nodejs_eventloop_lag_stddev_seconds',
  p50: 'nodejs_eventloop_lag_p50_seconds',
  p90: 'nodejs_eventloop_lag_p90_seconds',
  p99: 'nodejs_eventloop_lag_p99_seconds',
}

export function createMetrics(service: string, loop: Pick<EventLoopMonitor, 'takeDelays'>) {
  // One registry per app (not prom-client's global one) so tests can build many apps.
  const registry = new Registry()
  registry.setDefaultLabels({ service })
  // prom-client's own delay monitor cannot be left out: it ticks once a second here (each tick
  // wakes the process), and its gauges give way to the same names fed by the shared monitor.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1000 })
  let delays: LoopDelays | undefined
  for (const [stat, name] of Object.entries(loopDelayGauges) as [keyof LoopDelays, string][]) {
    registry.removeSingleMetric(name)
    new Gauge({
      name,
      help: `Event-loop delay since the previous scrape (${stat}), seconds`,
      registers: [registry],
      // A scrape collects the gauges in order: the first takes the delays, each sets its own.
      collect() {
        if (stat === 'min' || !delays) delays = loop.takeDelays()
        this.set(delays[stat])
      },
    })
  }
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
    const metrics = createMetrics(service, app.eventLoop)
    app.decorate('metrics', metrics)
    app.addHook('onResponse', (request, reply, done) => {
      metrics.httpDuration.observe(
        { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: reply.statusCode },
        reply.elapsedTime / 1000,
      )
      done()
    })
    // Not shed under pressure either: the scrape is how an operator sees the pressure.
    app.get('/metrics', { config: { shed: false } }, async (_request, reply) => {
      reply.type(metrics.registry.contentType)
      return metrics.registry.metrics()
    })
  },
  { name: 'metrics', dependencies: ['event-loop'] },
)
