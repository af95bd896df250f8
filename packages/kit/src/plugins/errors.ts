import fp from 'fastify-plugin'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { isPoolSaturated } from '@commerce/db'
import { AppError, kitErrors } from '../errors.ts'

/** MySQL/network failures that mean "database unavailable", not "bug". */
// PROTOCOL_SEQUENCE_TIMEOUT: a statement outlived its client-side bound (packages/db/src/pool.ts): a
// stalled or unreachable database, so retry later, like a refused connection.
const unavailableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'EPIPE',
  // A Galera node outside the Primary component, or not synced yet, refuses statements with this.
  'ER_UNKNOWN_COM_ERROR',
])
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

/** What a rejected request's body says: its stable code and message (and the fields it names), nothing of the internals. */
const body = (error: AppError) => ({ ...error.fields, code: error.code, message: error.message })

/**
 * Errors fastify raises before routing (a path that is not valid percent-encoding): the same
 * `{ code, message }` as every other answer, and no echo of the URL.
 */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const known =
    error.code === 'FST_ERR_BAD_URL' ? kitErrors.VALIDATION('the URL is not valid') : kitErrors.VALIDATION(`bad request (${error.code ?? 'unknown'})`)
  void reply.code(known.statusCode).send(body(known))
}

/**
 * Requests Node's HTTP parser refuses before fastify sees them: headers over the size limit (431),
 * a client too slow to send its request (408), malformed HTTP (400). Same body shape as the rest.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const known =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? kitErrors.HEADERS_TOO_LARGE()
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? kitErrors.REQUEST_TIMEOUT()
        : kitErrors.VALIDATION('malformed HTTP request')
  const text = JSON.stringify(body(known))
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${known.statusCode} ${known.code}\r\nContent-Length: ${Buffer.byteLength(text)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${text}`,
    )
  }
  socket.destroy(error)
}

/**
 * ajv coerces a query or params string such as "1e400" to Infinity and then skips the type and
 * range checks (it accepts `limit=1e400` for an integer ≤ 500); JSON bodies may hold 1e400 too.
 * No route takes a non-finite number, so any left after validation is refused here.
 */
function hasNonFinite(value: unknown, depth = 0): boolean {
  if (typeof value === 'number') return !Number.isFinite(value)
  if (value === null || typeof value !== 'object' || depth > 32) return false
  return Object.values(value).some((item) => hasNonFinite(item, depth + 1))
}

/** What the non-finite check looks at, in the order it names them. */
const checkedParts = ['params', 'query', 'body'] as const

/** One error handler: stable `{ code, message }`, 5xx internals never leave the process. */
export default fp(
  async (app) => {
    // Sends and returns nothing: a returned reply is a thenable, which Fastify awaits by listening
    // for the response's end (an end-of-stream watcher per error answered).
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const known = toAppError(error)
      if (!known) {
        request.log.error({ err: error }, 'unhandled error')
        reply.code(500).send({ code: 'INTERNAL', message: 'internal error' })
        return
      }
      if (known.statusCode >= 500) request.log.warn({ err: error, code: known.code }, 'request refused')
      // A refusal that passes with time says when to come back.
      if (known.statusCode >= 500 || known.statusCode === 429) reply.header('retry-after', '1')
      reply.code(known.statusCode).headers(known.headers).send(body(known))
    })
    // The path is not echoed: an error body never repeats what the client sent.
    app.setNotFoundHandler((request, reply) => {
      reply.code(404).send({ code: 'NOT_FOUND', message: `no route for ${request.method} on this path` })
    })
    app.addHook('preHandler', (request, _reply, done) => {
      const part = checkedParts.find((name) => hasNonFinite(request[name]))
      done(part ? kitErrors.VALIDATION(`${part === 'query' ? 'querystring' : part} holds a number out of range`) : undefined)
    })
  },
  { name: 'errors' },
)
