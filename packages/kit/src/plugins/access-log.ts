import fp from 'fastify-plugin'
import { Type, type Static } from 'typebox'

export const accessLogConfigProperties = {
  /** A request that took at least this long is logged (warn) whatever its status. */
  LOG_SLOW_REQUEST_MS: Type.Integer({ minimum: 1, maximum: 600_000, default: 500 }),
  /** Share of the other requests logged as "request completed": 0 none, 1 every one (a write per request). */
  LOG_REQUEST_SAMPLE: Type.Number({ minimum: 0, maximum: 1, default: 0 }),
}
const accessLogConfigSchema = Type.Object(accessLogConfigProperties)
export type AccessLogConfig = Static<typeof accessLogConfigSchema>

/**
 * One line per request that needs a reader: every 5xx (error), every slow request (warn), and a
 * sample of the rest (info). Fastify's own two lines per request are off (createServiceApp): each
 * was a synchronous write, and on the hot routes they cost more than the query. What every request
 * leaves instead is its observation in `http_request_duration_seconds` (plugins/metrics.ts), by
 * route and status. The logger stays synchronous, so a line written is never lost to a crash.
 */
export default fp<{ config: AccessLogConfig }>(
  async (app, { config }) => {
    app.addHook('onResponse', (request, reply, done) => {
      const line = { req: request, res: reply, responseTime: reply.elapsedTime }
      if (reply.statusCode >= 500) request.log.error(line, 'request failed')
      else if (line.responseTime >= config.LOG_SLOW_REQUEST_MS) request.log.warn(line, 'slow request')
      else if (config.LOG_REQUEST_SAMPLE > 0 && Math.random() < config.LOG_REQUEST_SAMPLE) request.log.info(line, 'request completed')
      done()
    })
  },
  { name: 'access-log' },
)
