import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http'
import fc from 'fast-check'
import type { FastifyInstance, InjectOptions } from 'fastify'
import type { Test } from 'tap'
import { kitErrors } from './errors.ts'

/**
 * A route as the fuzzer sees it: a valid request (path params, query, JSON body, headers) that the
 * fuzzer takes apart, field by field, with hostile values. Tests list every route of a service.
 */
export interface FuzzRoute {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  /** With `:name` segments, e.g. `/users/:id/orders`. */
  path: string
  /** Valid values of each `:name` (ids that exist, so deeper code runs too). */
  params?: Record<string, readonly string[]>
  query?: Record<string, string>
  body?: Record<string, unknown>
  headers?: Record<string, string>
}

/** The kit's operator routes every service has: fuzzed with each service's own. */
export const operatorRoutes: readonly FuzzRoute[] = [
  { method: 'GET', path: '/health' },
  { method: 'GET', path: '/ready' },
  { method: 'GET', path: '/metrics' },
  { method: 'GET', path: '/openapi.json' },
]

export interface FuzzOptions {
  /** fast-check's seed: the same seed generates the same requests. */
  seed: number
  /** Requests to send, spread over the routes. */
  runs: number
  /** Valid Authorization header values (for the ids in `params`, and an admin's). */
  authorizations: readonly string[]
  /** Authorization header values that must be refused (e.g. `attackTokens` from ./testing.ts). */
  attacks: readonly string[]
  /** Every error code the service may answer with (the kit's and the service's own). */
  codes: ReadonlySet<string>
  /** Fields beyond code and message that a code's body may carry (AppError.fields), by code. */
  fields?: ErrorFields
}

export type ErrorFields = Readonly<Record<string, readonly string[]>>

export interface FuzzReport {
  seed: number
  /** Requests sent and answered. */
  cases: number
  /** Generated requests a client cannot put on the wire (over HTTP only: Node refuses their path or a header). */
  unsendable: number
  statuses: Record<string, number>
  codes: Record<string, number>
  /** Requests whose answer broke a rule: a 5xx, an error without a known code, a leak. */
  failures: { request: string; status: number; body: string; why: string }[]
}

/** Strings that attack storage and parsing rather than validation. */
export const sqlInjections = [
  "Robert'); DROP TABLE users;--",
  "' OR '1'='1",
  "1' OR 1=1 -- ",
  '1; DELETE FROM orders',
  "' UNION SELECT id, name FROM users --",
  "admin'/*",
  "\\'; SELECT SLEEP(5); --",
  '"; TRUNCATE event_applications; --',
  '0x27 OR 1=1',
  "1' AND (SELECT COUNT(*) FROM information_schema.tables) > 0 --",
] as const

const oddStrings = [
  '',
  ' ',
  '\u0000',
  'null',
  'undefined',
  'true',
  '[]',
  '{}',
  'NaN',
  'Infinity',
  '-Infinity',
  '-0',
  '1e400',
  '-1e400',
  '1e-400',
  '9'.repeat(40),
  '0x10',
  '0b1',
  '1_000',
  '01',
  '+1',
  '1.5',
  '١٢٣',
  '\u202e1',
  '\ud800',
  '\uffff',
  'é'.repeat(300),
  '𝕏'.repeat(100),
  '__proto__',
  'constructor',
  'prototype',
  '../../etc/passwd',
  '%00',
  '%',
  '%zz',
  '<script>alert(1)</script>',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, sent as it is
  '${7*7}',
  '{{7*7}}',
  'a'.repeat(5000),
] as const

const hugeNumbers = [
  '1e400',
  '-1e400',
  '123456789012345678901234567890',
  '9007199254740993',
  '-9007199254740993',
  '1.7976931348623157e309',
  `0.${'0'.repeat(400)}1`,
  '-0',
  '1e-400',
] as const

/** Percent-encodings that are not valid UTF-8 or not valid at all, for path segments and queries. */
const rawUrlBits = ['%', '%zz', '%E0%A4%A', '%C0%AF', '%FF%FE', '%00', '%2e%2e%2f', '..', '%252e', '%ED%A0%80', ';', '%0d%0aSet-Cookie:x=1'] as const

const pad = (n: number, width: number) => String(n).padStart(width, '0')

/**
 * Date-time text at and past every edge: years the database cannot store (DATETIME(6) holds
 * 1000–9999) or that RFC 3339 cannot write (expanded `+275760`), offsets at and past ±14:00 or
 * missing, leap seconds, days a month does not have (Feb 29 of a common year), 0 to 12 fraction
 * digits, other separators, blanks; and periods (`YYYY-MM`) at the same years.
 */
const dateTimeEdge: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '0000-01-01T00:00:00Z',
      '0001-01-01T00:00:00Z',
      '0999-12-31T23:59:59Z',
      '+275760-09-13T00:00:00Z',
      '-271821-04-20T00:00:00Z',
      '+010000-01-01T00:00:00Z',
      '9999-12-31T23:59:59.9999999+14:00',
      '9999-12-31T23:59:59.999999-12:00',
      '9999-12-31T23:59:59Z',
      '1000-01-01T00:00:00+14:00',
      '1969-12-31T23:59:59.999999Z',
      '1970-01-01T00:00:00+14:00',
      '2030-06-30T23:59:60Z',
      '2023-02-29T00:00:00Z',
      '2024-02-29T00:00:00Z',
      '2030-01-01',
      '2030-01-01T04:00',
      '2030-01-01 04:00:00Z',
      '2030-01-01t04:00:00z',
      '20300101T040000Z',
      '2030-01-01T04:00:00+0900',
      '2030-01-01T04:00:00+09',
      '2030-01-01T04:00:00',
      '2030-01-01T24:00:00Z',
      '2030-13-01T00:00:00Z',
      '2030-00-10T00:00:00Z',
      ' 2030-01-01T04:00:00Z',
      '2030-01-01T04:00:00Z ',
      '\t',
      ' ',
      '',
    ),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        year: fc.oneof(
          fc.constantFrom(0, 1, 99, 999, 1000, 1969, 1970, 2038, 9998, 9999),
          fc.integer({ min: 0, max: 9999 }),
          fc.integer({ min: 10_000, max: 275_761 }),
        ),
        month: fc.integer({ min: 0, max: 13 }),
        day: fc.constantFrom(0, 1, 28, 29, 30, 31, 32),
        time: fc.constantFrom('00:00:00', '12:00:00', '23:59:59', '23:59:60', '24:00:00', '12:60:00'),
        fraction: fc.integer({ min: 0, max: 12 }).map((digits) => (digits === 0 ? '' : `.${'9'.repeat(digits)}`)),
        offset: fc.constantFrom('Z', '', '+00:00', '-00:00', '+14:00', '-12:00', '+14:01', '-14:00', '+24:00', '+09:30'),
      })
      .map(
        ({ year, month, day, time, fraction, offset }) =>
          `${year > 9999 ? `+${pad(year, 6)}` : pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${time}${fraction}${offset}`,
      ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('0000-01', '0001-01', '0999-12', '1969-12', '1970-01', '9999-12', '10000-01', '2026-00', '2026-13', '-2026-10', '+2026-10'),
  },
)

/** Numbers at the edges of the integer types a route or a column may use, and decimals where integers belong. */
const boundaryNumbers = [
  0,
  -0,
  -1,
  1,
  0.5,
  1.5,
  -1.5,
  99.99,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 53 - 1,
  2 ** 53,
  -(2 ** 53 - 1),
  1e21,
  Number.EPSILON,
  Number.MIN_VALUE,
] as const
/** The same as text (path segments, queries), with what JSON numbers cannot carry exactly. */
const boundaryNumberTexts = [
  ...boundaryNumbers.map(String),
  '-0',
  '2147483647',
  '2147483648',
  '4294967296',
  '9007199254740993',
  '-9007199254740993',
  '1e21',
  '1.0',
  '1.',
  '.5',
  '0x7fffffff',
] as const
const numberEdge = fc.constantFrom(...boundaryNumbers)
const numberTextEdge = fc.constantFrom(...boundaryNumberTexts)

const hostileString = fc.oneof(
  fc.constantFrom(...sqlInjections),
  fc.constantFrom(...oddStrings),
  dateTimeEdge,
  numberTextEdge,
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
)

const protoKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__')

/** Any JSON value, with the shapes that hurt: prototype keys, deep nesting, odd numbers. */
const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.jsonValue({ maxDepth: 3 }),
  fc.double(),
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
  fc.constantFrom(...boundaryNumbers, -(2 ** 63), Number.MAX_VALUE, true, false, null, [], {}),
  fc.dictionary(fc.oneof(protoKey, fc.string({ maxLength: 8 })), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
)

/** A value at the edges of the kind of `valid`: a string as date-time text mostly, a number at an integer boundary. */
const edgeOf = (valid: unknown): fc.Arbitrary<unknown> =>
  typeof valid === 'number'
    ? fc.oneof({ weight: 3, arbitrary: numberEdge }, { weight: 1, arbitrary: numberTextEdge })
    : fc.oneof({ weight: 3, arbitrary: dateTimeEdge }, { weight: 1, arbitrary: numberTextEdge }, { weight: 1, arbitrary: numberEdge })

/** JSON text a serializer would never write: what a hostile client sends as the body. */
function rawBody(valid: Record<string, unknown>): fc.Arbitrary<string | Buffer> {
  const validText = JSON.stringify(valid)
  const fields = Object.keys(valid)
  return fc.oneof(
    fc.nat({ max: Math.max(0, validText.length - 1) }).map((cut) => validText.slice(0, cut)),
    fc
      .tuple(fc.constantFrom(...(fields.length ? fields : ['x'])), fc.constantFrom(...hugeNumbers))
      .map(([field, number]) => validText.replace(/}$/, `${fields.length ? ',' : ''}"${field}":${number}}`)),
    fc
      .tuple(protoKey, fc.jsonValue({ maxDepth: 2 }))
      .map(([key, value]) => validText.replace(/^{/, `{"${key}":${JSON.stringify(value)}${fields.length ? ',' : ''}`)),
    fc.integer({ min: 1, max: 7000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`),
    fc.integer({ min: 1, max: 3000 }).map((depth) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
    fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.concat([Buffer.from('{"'), Buffer.from(bytes), Buffer.from('":1}')])),
    fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
    // Invalid UTF-8 inside a string value of a field the route reads.
    fc
      .tuple(
        fc.constantFrom(...(fields.length ? fields : ['x'])),
        fc.constantFrom([0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe0, 0xa4], [0xf8, 0x88, 0x80, 0x80, 0x80]),
      )
      .map(([field, bytes]) => {
        const [before, after] = JSON.stringify({ ...valid, [field]: '\u0000mark' }).split('\\u0000mark') as [string, string]
        return Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after ?? '')])
      }),
    fc.string({ maxLength: 200 }),
    fc.constantFrom('', 'null', '[]', '"x"', '1', '{', '{"a":1,"a":2}', '\ufeff{}', '{"x":"\\ud800"}'),
  )
}

/** A valid body with one field replaced, removed, or joined by a stranger. */
function mutatedBody(valid: Record<string, unknown>): fc.Arbitrary<string> {
  const fields = Object.keys(valid)
  const replaced = fields.length
    ? fc.tuple(fc.constantFrom(...fields), hostileJson).map(([field, value]) => JSON.stringify({ ...valid, [field]: value }))
    : hostileJson.map((value) => JSON.stringify({ x: value }))
  const removed = fields.length
    ? fc.constantFrom(...fields).map((field) => JSON.stringify(Object.fromEntries(Object.entries(valid).filter(([name]) => name !== field))))
    : fc.constant('{}')
  const extra = fc.tuple(fc.oneof(protoKey, fc.string({ maxLength: 10 })), hostileJson).map(([key, value]) => JSON.stringify({ ...valid, [key]: value }))
  // The route's own fields as hostile strings: SQL text must be stored verbatim or refused.
  const injected = fields.length
    ? fc.tuple(fc.constantFrom(...fields), fc.constantFrom(...sqlInjections)).map(([field, value]) => JSON.stringify({ ...valid, [field]: value }))
    : extra
  // Each field at the edges of its kind or left valid, so the valid ones pass and an edge reaches the code behind validation.
  const edged = fields.length
    ? fc
        .record(Object.fromEntries(Object.entries(valid).map(([field, value]) => [field, fc.oneof(fc.constant(value), edgeOf(value))])))
        .map((body) => JSON.stringify(body))
    : extra
  return fc.oneof(
    replaced,
    removed,
    extra,
    injected,
    { weight: 3, arbitrary: edged },
    hostileJson.map((value) => JSON.stringify(value) ?? 'null'),
  )
}

const pathValue = (valid: readonly string[]) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...valid) },
    { weight: 3, arbitrary: hostileString.map((value) => encodeURIComponent(value.replace(/[\ud800-\udfff]/g, ''))) },
    { weight: 1, arbitrary: fc.constantFrom(...hugeNumbers, ...rawUrlBits, ...boundaryNumberTexts) },
  )

function queryString(valid: Record<string, string>): fc.Arbitrary<string> {
  const names = Object.keys(valid)
  const encode = (text: string) => encodeURIComponent(text.replace(/[\ud800-\udfff]/g, ''))
  const pair = fc
    .tuple(
      fc.oneof(
        fc.constantFrom(...names, ...(names.length ? [] : ['q'])),
        protoKey,
        fc.constantFrom(...names.map((name) => `${name}[]`), 'a[b]', ''),
        fc.string({ maxLength: 8 }),
      ),
      fc.oneof(fc.constantFrom(...Object.values(valid), 'x'), hostileString, fc.constantFrom(...hugeNumbers), dateTimeEdge, numberTextEdge),
    )
    .map(([name, value]) => `${encode(name)}=${encode(value)}`)
  const validPairs = Object.entries(valid).map(([name, value]) => `${name}=${encode(value)}`)
  // One valid parameter at the edges of its kind, the others left valid.
  const edged = names.length
    ? fc.tuple(fc.constantFrom(...names), fc.oneof(dateTimeEdge, numberTextEdge)).map(([edgedName, value]) =>
        Object.entries(valid)
          .map(([name, validValue]) => `${name}=${encode(name === edgedName ? value : validValue)}`)
          .join('&'),
      )
    : fc.constant('')
  return fc.oneof(
    fc.constant(validPairs.join('&')),
    { weight: 3, arbitrary: edged },
    fc.array(pair, { maxLength: 4 }).map((pairs) => [...validPairs, ...pairs].join('&')),
    fc.array(pair, { maxLength: 4 }).map((pairs) => pairs.join('&')),
    fc.constantFrom(...rawUrlBits).map((bit) => `${validPairs.join('&')}&${names[0] ?? 'q'}=${bit}`),
    fc.constantFrom(...rawUrlBits),
  )
}

/** A header value a client can put on the wire: visible ASCII and Latin-1 bytes, no CR/LF/NUL. */
const headerValue = fc.oneof(
  fc.string({
    unit: fc
      .integer({ min: 0x20, max: 0xff })
      .filter((code) => code !== 0x7f)
      .map((code) => String.fromCharCode(code)),
    maxLength: 80,
  }),
  fc.constantFrom(...sqlInjections),
  fc.constantFrom('', ' ', 'a'.repeat(65), 'a'.repeat(4000), 'é', 'k\u00ff\u00fe'),
)

const contentTypes = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'application/json;;',
  'text/plain',
  'text/csv',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/octet-stream',
  '*/*',
  'json',
  'application/json, text/plain',
  'application/vnd.api+json',
] as const

function request(route: FuzzRoute, { authorizations, attacks }: Pick<FuzzOptions, 'authorizations' | 'attacks'>): fc.Arbitrary<InjectOptions> {
  const params = Object.entries(route.params ?? {})
  const path = fc
    .tuple(...params.map(([, valid]) => pathValue(valid)))
    .map((values) => params.reduce((url, [name], i) => url.replace(`:${name}`, values[i] ?? ''), route.path))
  const withBody = route.body !== undefined
  const body: fc.Arbitrary<string | Buffer | undefined> = withBody
    ? fc.oneof(
        { weight: 1, arbitrary: fc.constant(JSON.stringify(route.body)) },
        { weight: 4, arbitrary: mutatedBody(route.body!) },
        { weight: 3, arbitrary: rawBody(route.body!) },
        { weight: 1, arbitrary: fc.constant(undefined) },
      )
    : fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: rawBody({}) })
  const authorization = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...authorizations) },
    { weight: 2, arbitrary: fc.constantFrom(...attacks) },
    { weight: 1, arbitrary: headerValue.map((value) => `Bearer ${value}`) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  )
  const contentType = fc.oneof(
    { weight: 4, arbitrary: fc.constant(withBody ? 'application/json' : undefined) },
    { weight: 2, arbitrary: fc.constantFrom(...contentTypes) },
    { weight: 1, arbitrary: headerValue },
    { weight: 1, arbitrary: fc.constant(undefined) },
  )
  const extraHeaders = fc.dictionary(
    fc.oneof(
      fc.constantFrom(
        'idempotency-key',
        'x-request-id',
        'content-encoding',
        'transfer-encoding',
        'x-forwarded-for',
        'accept',
        'accept-charset',
        'x-http-method-override',
        'cookie',
      ),
      fc.stringMatching(/^x-[a-z]{1,10}$/),
    ),
    headerValue,
    { maxKeys: 3 },
  )
  const method = fc.oneof(
    { weight: 9, arbitrary: fc.constant(route.method) },
    { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD') as fc.Arbitrary<FuzzRoute['method']> },
  )
  return fc
    .record({
      method,
      path,
      query: route.query ? queryString(route.query) : fc.oneof(fc.constant(''), queryString({})),
      body,
      authorization,
      contentType,
      keepHeaders: fc.boolean(),
      extraHeaders,
    })
    .map(({ method, path, query, body, authorization, contentType, keepHeaders, extraHeaders }) => {
      const headers: Record<string, string> = { ...(keepHeaders ? route.headers : {}), ...extraHeaders }
      if (authorization !== undefined) headers.authorization = authorization
      if (contentType !== undefined) headers['content-type'] = contentType
      // transfer-encoding with inject's fixed-length payload is not a request a socket can carry.
      delete headers['transfer-encoding']
      return { method, url: query ? `${path}?${query}` : path, headers, ...(body !== undefined ? { payload: body } : {}) }
    })
}

/** What an error body must never show: a stack, a file of ours, the database's own words, SQL. */
const leaks: [RegExp, string][] = [
  [/\n\s+at |\bat [\w.<>]+ \(/, 'stack trace'],
  [/node_modules|\.ts:\d+|\.js:\d+|file:\/\//, 'source path'],
  [/\bER_[A-Z_]{3,}|sqlMessage|sqlState|errno|SQL syntax|mysql|mariadb|Duplicate entry|Unknown column|Table '/i, 'database error'],
  [
    /\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+(IGNORE\s+)?INTO\b|\bUPDATE\s+\S+\s+SET\b|\bDELETE\s+FROM\b|\bDROP\s+TABLE\b|\bUNION\s+(ALL\s+)?SELECT\b|\bTRUNCATE\b/i,
    'SQL text',
  ],
]

function codeOf(body: string): string | undefined {
  try {
    const code = (JSON.parse(body) as { code?: unknown } | null)?.code
    return typeof code === 'string' ? code : undefined
  } catch {
    return undefined
  }
}

/** Checks one answer; returns why it breaks the contract, or undefined. */
export function checkAnswer(status: number, body: string, codes: ReadonlySet<string>, fields: ErrorFields = {}): string | undefined {
  if (status >= 500) return `status ${status}`
  if (status < 400) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return 'error body is not JSON'
  }
  const { code, message } = (parsed ?? {}) as { code?: unknown; message?: unknown }
  if (typeof code !== 'string' || !codes.has(code)) return `unknown code ${JSON.stringify(code)}`
  if (typeof message !== 'string') return 'no message'
  const allowed = new Set(['code', 'message', ...(fields[code] ?? [])])
  if (Object.keys(parsed as object).some((key) => !allowed.has(key))) return 'error body has more than code, message and its declared fields'
  for (const [pattern, what] of leaks) if (pattern.test(body)) return `${what} in the error body`
  return undefined
}

/** One answer as the checks read it, from inject or from a socket. */
export interface FuzzAnswer {
  status: number
  headers: IncomingHttpHeaders | Record<string, unknown>
  body: string
}

/**
 * Where the generated requests go: the app in-process (`inject`), or a server over real HTTP
 * (`baseUrl`, e.g. nginx in front of the replicas): what lives between the two shows only there.
 */
export type FuzzTarget = Pick<FastifyInstance, 'inject'> | { baseUrl: string; agent?: Agent }

/**
 * One generated request over a real socket, byte for byte: header values go out as Latin-1, as a
 * hostile client may send them. Resolves undefined when Node will not write it (a path with spaces
 * or a header value with a character above U+00FF): no client library would send it either.
 * Rejects when the connection ends without an answer.
 */
export function sendOverHttp(baseUrl: string, request: InjectOptions, agent?: Agent): Promise<FuzzAnswer | undefined> {
  const base = new URL(baseUrl)
  const payload = request.payload === undefined ? undefined : Buffer.isBuffer(request.payload) ? request.payload : Buffer.from(String(request.payload))
  const headers: Record<string, string> = { ...(request.headers as Record<string, string> | undefined) }
  if (payload) headers['content-length'] = String(payload.length)
  return new Promise((resolve, reject) => {
    let outgoing: ReturnType<typeof httpRequest>
    try {
      outgoing = httpRequest({ host: base.hostname, port: base.port, method: request.method, path: String(request.url), headers, ...(agent ? { agent } : {}) })
    } catch {
      resolve(undefined)
      return
    }
    outgoing.on('error', reject)
    outgoing.on('response', (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('error', reject)
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }))
    })
    outgoing.end(payload)
  })
}

const sender = (target: FuzzTarget): ((request: InjectOptions) => Promise<FuzzAnswer | undefined>) =>
  'inject' in target
    ? async (request) => {
        const response = await target.inject(request)
        return { status: response.statusCode, headers: response.headers, body: response.body }
      }
    : (request) => sendOverHttp(target.baseUrl, request, target.agent)

/**
 * nginx holds an answer's whole header in one buffer (proxy_buffer_size) and refuses an answer
 * whose header does not fit, counting it against the replica: no header of an answer may grow
 * with what the client sent.
 */
export const maxAnswerHeaderBytes = 1024

function oversizedHeader(headers: FuzzAnswer['headers']): string | undefined {
  for (const [name, value] of Object.entries(headers)) {
    const bytes = Buffer.byteLength(String(value), 'latin1')
    if (bytes > maxAnswerHeaderBytes) return `answer header ${name} is ${bytes} bytes`
  }
  return undefined
}

/**
 * Sends `runs` generated requests (fast-check, seeded) to the target one after the other and checks
 * every answer: never 5xx; every 4xx is `{ code, message }` with a known code and no stack, source
 * path, database error or SQL; no answer header over maxAnswerHeaderBytes. The report is for the
 * test's assertions and its printed figures.
 */
export async function fuzzRoutes(target: FuzzTarget, routes: readonly FuzzRoute[], options: FuzzOptions): Promise<FuzzReport> {
  const arbitrary = fc.oneof(...routes.map((route) => request(route, options)))
  const requests = fc.sample(arbitrary, { seed: options.seed, numRuns: options.runs })
  const send = sender(target)
  const report: FuzzReport = { seed: options.seed, cases: 0, unsendable: 0, statuses: {}, codes: {}, failures: [] }
  for (const options_ of requests) {
    const fail = (status: number, body: string, why: string) => {
      if (report.failures.length >= 20) return
      const payload = options_.payload === undefined ? '' : Buffer.isBuffer(options_.payload) ? options_.payload.toString('latin1') : String(options_.payload)
      // Long header values (a 4,000-byte one is generated) as their length, so a report stays readable.
      const headers = Object.entries(options_.headers ?? {}).map(([name, value]) => [
        name,
        String(value).length > 100 ? `(${String(value).length} chars)` : value,
      ])
      report.failures.push({
        request: `${options_.method} ${options_.url} ${JSON.stringify(Object.fromEntries(headers))} ${payload.slice(0, 200)}`,
        status,
        body: body.slice(0, 300),
        why,
      })
    }
    let response: FuzzAnswer | undefined
    try {
      response = await send(options_)
    } catch (error) {
      report.cases += 1
      fail(0, '', `no answer: ${(error as Error).message}`)
      continue
    }
    if (!response) {
      report.unsendable += 1
      continue
    }
    report.cases += 1
    report.statuses[response.status] = (report.statuses[response.status] ?? 0) + 1
    // A HEAD answer has no body by definition; its status is still checked.
    const head = options_.method === 'HEAD'
    if (response.status >= 400 && !head) {
      const code = codeOf(response.body) ?? `(${response.status} without a code)`
      report.codes[code] = (report.codes[code] ?? 0) + 1
    }
    const why =
      (head
        ? response.status >= 500
          ? `status ${response.status}`
          : undefined
        : checkAnswer(response.status, response.body, options.codes, options.fields)) ?? oversizedHeader(response.headers)
    if (why) fail(response.status, response.body, why)
  }
  return report
}

/** The seed and run count a fuzz test uses: fixed, unless FUZZ_SEED / FUZZ_RUNS are set to explore. */
export function fuzzSettings(defaults: { seed: number; runs: number }): { seed: number; runs: number } {
  const seed = Number(process.env.FUZZ_SEED ?? defaults.seed)
  const runs = Number(process.env.FUZZ_RUNS ?? defaults.runs)
  return { seed: Number.isSafeInteger(seed) ? seed : defaults.seed, runs: Number.isSafeInteger(runs) && runs > 0 ? runs : defaults.runs }
}

/** One line for t.comment: cases, statuses and codes, to be quoted. */
export function formatFuzzReport(service: string, report: FuzzReport): string {
  const histogram = (counts: Record<string, number>) =>
    Object.entries(counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, n]) => `${key}×${n}`)
      .join(' ')
  const fivexx = Object.entries(report.statuses)
    .filter(([status]) => Number(status) >= 500)
    .reduce((sum, [, n]) => sum + n, 0)
  const unsendable = report.unsendable ? ` (${report.unsendable} more not sendable over HTTP)` : ''
  return `fuzz ${service}: seed ${report.seed}, ${report.cases} cases${unsendable}, ${fivexx} × 5xx; statuses ${histogram(report.statuses)}; codes ${histogram(report.codes)}`
}

export interface ServiceFuzz extends Pick<FuzzOptions, 'authorizations' | 'attacks' | 'fields'> {
  service: string
  /** The service's error table (its errors module): with the kit's codes, the codes it may answer. */
  errors: Record<string, unknown>
  /** Defaults, overridden by FUZZ_SEED / FUZZ_RUNS. */
  seed: number
  runs: number
}

/** `fuzzRoutes` for a service: its codes, the seed and run count settled, and the line to print. */
export async function fuzzService(
  target: FuzzTarget,
  routes: readonly FuzzRoute[],
  { service, errors, seed, runs, ...auth }: ServiceFuzz,
): Promise<FuzzReport & { runs: number; summary: string }> {
  const settings = fuzzSettings({ seed, runs })
  const codes = new Set([...Object.keys(kitErrors), ...Object.keys(errors)])
  const report = await fuzzRoutes(target, routes, { ...settings, ...auth, codes })
  return { ...report, runs: settings.runs, summary: formatFuzzReport(service, report) }
}

/** Prints the figures and asserts what every fuzz run must keep: all requests sent, none failed. */
export function assertFuzzClean(t: Test, report: FuzzReport & { runs: number; summary: string }): void {
  t.comment(report.summary)
  t.equal(report.cases + report.unsendable, report.runs, 'every generated request was sent (or counted as one no client can send)')
  t.same(report.failures, [], 'no 5xx, no unknown code, no stack or SQL in an error body')
}
