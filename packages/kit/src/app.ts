import { randomUUID } from 'node:crypto'
import Fastify, { LogController, type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { BaseConfig } from './config.ts'
import errorsPlugin, { clientErrorHandler, frameworkErrors } from './plugins/errors.ts'
import accessLogPlugin from './plugins/access-log.ts'
import dbPlugin from './plugins/db.ts'
import membershipPlugin from './plugins/membership.ts'
import latencyWindowPlugin from './plugins/latency-window.ts'
import clockPlugin from './plugins/clock.ts'
import authPlugin from './plugins/auth.ts'
import metricsPlugin from './plugins/metrics.ts'
import eventLoopPlugin from './plugins/event-loop.ts'
import healthPlugin from './plugins/health.ts'
import openapiPlugin from './plugins/openapi.ts'

export const serviceNames = ['user-api', 'coupon-api', 'event-apply', 'batch-worker'] as const
export type ServiceName = (typeof serviceNames)[number]

/** Request size limits; nginx (infra/nginx/nginx.conf.template) refuses the same sizes at the edge. */
export const maxBodyBytes = 16 * 1024
export const maxHeaderBytes = 16 * 1024

/** A request id a replica adopts from X-Request-Id; nginx's map (infra/nginx/nginx.conf.template) forwards only the same. */
export const requestIdPattern = /^[A-Za-z0-9._:-]{1,64}$/

export interface ServiceAppOptions {
  service: ServiceName
  config: BaseConfig
  /** Tests pass `false`; servers keep pino on. */
  logger?: FastifyServerOptions['logger']
}

/**
 * The common base of every service: logging with request ids (5xx, slow and sampled requests), errors, metrics, the API pool,
 * cluster membership, the database clock, auth and health. A service's `buildApp` adds its routes to it.
 */
export async function createServiceApp({ service, config, logger }: ServiceAppOptions) {
  const app = Fastify({
    logger: logger ?? { level: config.LOG_LEVEL },
    // plugins/access-log.ts logs the requests worth a line instead of two synchronous lines for every one.
    logController: new LogController({ disableRequestLogging: true }),
    // nginx passes X-Request-Id (the client's when well-formed, else its own). The id is echoed in
    // every answer, so one that is not short and plain is replaced, never adopted: a 4-KiB id once
    // made nginx refuse the answer ("upstream sent too big header") and take the replica out.
    requestIdHeader: false,
    genReqId: (request) => {
      const id = request.headers['x-request-id']
      return typeof id === 'string' && requestIdPattern.test(id) ? id : randomUUID()
    },
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    connectionTimeout: config.REQUEST_TIMEOUT_MS,
    bodyLimit: maxBodyBytes,
    // Node's default, stated: headers beyond it are refused with 431 HEADERS_TOO_LARGE.
    http: { maxHeaderSize: maxHeaderBytes },
    frameworkErrors,
    clientErrorHandler,
    // While closing, a request that still arrives on a kept-alive connection is served (with
    // `Connection: close`, so nginx takes its next ones elsewhere), not refused with 503: nginx
    // never retries a POST it has sent, so a 503 there reached the client during rolling
    // restarts. The pool closes only after the last connection has ended.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  }).withTypeProvider<TypeBoxTypeProvider>()

  await app.register(errorsPlugin)
  await app.register(accessLogPlugin, { config })
  await app.register(openapiPlugin, { service })
  await app.register(eventLoopPlugin, { maxDelayMs: config.SHED_EVENT_LOOP_DELAY_MS })
  await app.register(metricsPlugin, { service })
  await app.register(dbPlugin, { config })
  await app.register(latencyWindowPlugin, { config })
  await app.register(membershipPlugin, { config, service })
  await app.register(clockPlugin, { config })
  await app.register(authPlugin, { secret: config.AUTH_SECRET })
  await app.register(healthPlugin, { service })

  // Hooks on every request take a callback rather than returning a promise: one promise and one
  // microtask fewer each, on a path where the kit's own cost is measured (docs/BENCHMARKS.md).
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    reply.header('x-instance-id', app.membership.id)
    done()
  })
  return app
}

export type ServiceApp = Awaited<ReturnType<typeof createServiceApp>>
