/**
 * Errors with stable codes. Services define their own codes with `defineErrors`; the kit's
 * error handler turns any AppError into `{ code, message }` with its status, plus `fields`
 * when a refusal must name something (a 409's existing resource).
 */
export class AppError extends Error {
  override name = 'AppError'
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly fields: Readonly<Record<string, string | number>> = {},
  ) {
    super(message)
  }
}

type ErrorSpec = readonly [status: number, message: string]

/**
 * A refusal (4xx) is an answer, not a fault: nobody reads its stack, and capturing one cost more
 * than the rest of the event's closed-path answer (8.5 µs here, more under a deep async stack;
 * docs/BENCHMARKS.md, Request cost).
 * Server errors keep theirs.
 */
function withoutStack<T>(make: () => T): T {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return make()
  } finally {
    Error.stackTraceLimit = limit
  }
}

/** Builds a `{ CODE: (message?) => AppError }` table so codes live in one module per service. */
export function defineErrors<const Specs extends Record<string, ErrorSpec>>(specs: Specs) {
  return Object.fromEntries(
    Object.entries(specs).map(([code, [status, message]]) => {
      const make = (detail?: string) => new AppError(status, code, detail ?? message)
      return [code, status < 500 ? (detail?: string) => withoutStack(() => make(detail)) : make]
    }),
  ) as { [Code in keyof Specs]: (detail?: string) => AppError }
}

/** Codes the kit itself answers with; every service can use them. */
export const kitErrors = defineErrors({
  VALIDATION: [400, 'request is invalid'],
  UNAUTHORIZED: [401, 'a valid bearer token is required'],
  FORBIDDEN: [403, 'not allowed'],
  NOT_FOUND: [404, 'not found'],
  REQUEST_TIMEOUT: [408, 'the request was not received in time'],
  PAYLOAD_TOO_LARGE: [413, 'request body is too large'],
  UNSUPPORTED_MEDIA_TYPE: [415, 'unsupported content type'],
  TOO_MANY_REQUESTS: [429, 'too many requests from this client; retry later'],
  HEADERS_TOO_LARGE: [431, 'request headers are too large'],
  OVERLOADED: [503, 'service is overloaded, retry shortly'],
  UNAVAILABLE: [503, 'service is unavailable, retry shortly'],
  /** /ready only: the replica must not be routed to yet (its message says why). */
  NOT_READY: [503, 'this replica is not ready to serve'],
  INTERNAL: [500, 'internal error'],
})
