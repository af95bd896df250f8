import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'
import { isPoolSaturated } from '@commerce/db'
import { AppError, kitErrors } from '../errors.ts'

/** MySQL/network failures that mean "database unavailable", not "bug". */
const unavailableCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'PROTOCOL_CONNECTION_LOST', 'ER_CON_COUNT_ERROR', 'EPIPE'])
/** Statement gave up waiting: the caller may retry; it is load, not a bug. */
const busyCodes = new Set(['ER_LOCK_WAIT_TIMEOUT', 'ER_LOCK_DEADLOCK', 'ER_QUERY_INTERRUPTED'])

/** Fastify's own 4xx errors, mapped to our stable codes. */
const fastifyCodes: Record<string, AppError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: kitErrors.PAYLOAD_TOO_LARGE(),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: kitErrors.UNSUPPORTED_MEDIA_TYPE(),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: kitErrors.VALIDATION('invalid content length'),
  FST_ERR_CTP_EMPTY_JSON_BODY: kitErrors.VALIDATION('body must not be empty'),
}

function toAppError(error: FastifyError): AppError | undefined {
  if (error instanceof AppError) return error
  if (error.validation) return kitErrors.VALIDATION(error.message)
  const known = error.code ? fastifyCodes[error.code] : undefined
  if (known) return known
  if (isPoolSaturated(error)) return kitErrors.OVERLOADED(undefined)
  if (error.code && busyCodes.has(error.code)) return kitErrors.OVERLOADED()
  if (error.code && unavailableCodes.has(error.code)) return kitErrors.UNAVAILABLE()
  // Any other client error fastify raised (bad JSON, bad header…): keep its status, our code.
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) return new AppError(error.statusCode, 'VALIDATION', error.message)
  return undefined
}

/** One error handler: stable `{ code, message }`, 5xx internals never leave the process. */
export default fp(
  async (app) => {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const known = toAppError(error)
      if (!known) {
        request.log.error({ err: error }, 'unhandled error')
        return reply.code(500).send({ code: 'INTERNAL', message: 'internal error' })
      }
      if (known.statusCode >= 500) {
        request.log.warn({ err: error, code: known.code }, 'request refused')
        reply.header('retry-after', '1')
      }
      return reply.code(known.statusCode).headers(known.headers).send({ code: known.code, message: known.message })
    })
    app.setNotFoundHandler((request, reply) => {
      reply.code(404).send({ code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` })
    })
  },
  { name: 'errors' },
)
