import { createHmac, createSign, generateKeyPairSync } from 'node:crypto'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { loadConfig, baseConfigSchema, type BaseConfig } from './config.ts'
import { signToken, type Role } from './tokens.ts'
import type { BatchGuardFactory } from './plugins/batch-guard.ts'

export const testSecret = 'test-secret-that-is-long-enough-for-hs256-0123456789'

/**
 * The environment tests boot services with: fast heartbeats, the given database, and no load
 * shedding — a route's answer must not depend on how loaded the machine running the suite is
 * (a test of shedding turns it back on).
 */
export function testEnv(databaseUrl: string, overrides: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_URL: databaseUrl, AUTH_SECRET: testSecret, HEARTBEAT_MS: '100', LOG_LEVEL: 'silent', SHED_EVENT_LOOP_DELAY_MS: '0', ...overrides }
}

/** A validated base config for `buildApp` in tests; services with more settings load `testEnv`. */
export function testConfig(databaseUrl: string, overrides: Record<string, string> = {}): BaseConfig {
  return loadConfig(baseConfigSchema, testEnv(databaseUrl, overrides))
}

/**
 * A guard that never sees a batch (every user idle, the view never stale): the benchmark's
 * unguarded baseline, and tests that meet the batch's row locks the way a guard that missed the run would.
 */
export const ignoreBatches: BatchGuardFactory = (view) => ({ view, inBatch: () => null, stale: () => false })

export function bearer(userId: number, role: Role = 'user'): { authorization: string } {
  return { authorization: `Bearer ${signToken(testSecret, { userId, role })}` }
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const hmac = (algorithm: string, key: string | Buffer, text: string) => createHmac(algorithm, key).update(text).digest('base64url')

/**
 * Authorization header values that must all be refused with 401 UNAUTHORIZED, each named by the
 * attack: forged, expired, not yet valid, wrong algorithm (`none`, HS384/HS512, RS256 and RS/HS
 * confusion), wrong secret, malformed, bad claims, wrong scheme. They claim `userId` (and admin
 * where a role is claimed), so a route that let one through would answer as that user.
 */
export function attackTokens(userId: number, secret: string = testSecret): Record<string, string> {
  const now = Math.floor(Date.now() / 1000)
  const claims = { sub: String(userId), role: 'admin', iat: now, exp: now + 3600 }
  const signed = (header: object, payload: object, sign: (text: string) => string) => {
    const text = `${b64(header)}.${b64(payload)}`
    return `${text}.${sign(text)}`
  }
  const hs256 = (payload: object, key: string = secret) => signed({ alg: 'HS256', typ: 'JWT' }, payload, (text) => hmac('sha256', key, text))
  const valid = signToken(secret, { userId, role: 'user' })
  const [validHead, , validSignature] = valid.split('.') as [string, string, string]
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const publicPem = publicKey.export({ format: 'pem', type: 'spki' }).toString()
  const tokens: Record<string, string> = {
    'forged: role changed to admin, signature kept': `${validHead}.${b64(claims)}.${validSignature}`,
    'forged: signature of another token': `${hs256(claims).split('.').slice(0, 2).join('.')}.${signToken(secret, { userId: userId + 1, role: 'user' }).split('.')[2]}`,
    'forged: signature flipped': `${valid.slice(0, -2)}${valid.endsWith('AA') ? 'AB' : 'AA'}`,
    'expired an hour ago': hs256({ ...claims, iat: now - 7200, exp: now - 3600 }),
    'not valid before tomorrow': hs256({ ...claims, nbf: now + 86_400 }),
    'alg none, no signature': `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`,
    'alg none, signature kept': `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.${validSignature}`,
    'alg NONE': `${b64({ alg: 'NONE', typ: 'JWT' })}.${b64(claims)}.`,
    'HS384 with the secret': signed({ alg: 'HS384', typ: 'JWT' }, claims, (text) => hmac('sha384', secret, text)),
    'HS512 with the secret': signed({ alg: 'HS512', typ: 'JWT' }, claims, (text) => hmac('sha512', secret, text)),
    'RS256 with a stranger key': signed({ alg: 'RS256', typ: 'JWT' }, claims, (text) =>
      createSign('RSA-SHA256').update(text).sign(privateKey).toString('base64url'),
    ),
    'RS256 header, HMAC-signed with the secret as the "public key"': signed({ alg: 'RS256', typ: 'JWT' }, claims, (text) => hmac('sha256', secret, text)),
    'HS256 signed with a public key PEM': hs256(claims, publicPem),
    'wrong secret': hs256(claims, `${secret}-but-not-quite`),
    'empty secret': hs256(claims, ''),
    'header not JSON': `${Buffer.from('{alg:HS256').toString('base64url')}.${b64(claims)}.${validSignature}`,
    'payload an array': hs256([claims]),
    'sub a number': hs256({ ...claims, sub: userId }),
    'sub zero': hs256({ ...claims, sub: '0' }),
    'sub not an id': hs256({ ...claims, sub: `${userId} OR 1=1` }),
    'role root': hs256({ ...claims, role: 'root' }),
    'no role': hs256({ sub: String(userId), iat: now, exp: now + 3600 }),
    'kid path traversal': signed({ alg: 'HS256', typ: 'JWT', kid: '../../../dev/null' }, claims, (text) => hmac('sha256', '', text)),
    'jku to a stranger': signed({ alg: 'RS256', typ: 'JWT', jku: 'http://127.0.0.1:1/jwks.json' }, claims, (text) =>
      createSign('RSA-SHA256').update(text).sign(privateKey).toString('base64url'),
    ),
    'two parts': valid.split('.').slice(0, 2).join('.'),
    'four parts': `${valid}.x`,
    garbage: 'x.y.z',
    'over 4 KiB': `${validHead}.${'a'.repeat(5000)}.${validSignature}`,
  }
  const headers: Record<string, string> = {}
  for (const [name, token] of Object.entries(tokens)) headers[name] = `Bearer ${token}`
  Object.assign(headers, {
    'scheme Basic': `Basic ${Buffer.from(`${userId}:password`).toString('base64')}`,
    'scheme Token with a valid token': `Token ${valid}`,
    'no scheme, valid token': valid,
    'Bearer without a token': 'Bearer',
    'Bearer and two spaces': `Bearer  ${valid}`,
    'valid token and trailing garbage': `Bearer ${valid} x`,
    'two tokens': `Bearer ${valid}, Bearer ${valid}`,
    'empty header': '',
  })
  return headers
}

export interface Refusal {
  attack: string
  request: string
  status: number
  code: unknown
}

/**
 * Sends each request once per attack header and returns every answer that is not 401
 * UNAUTHORIZED (empty = all refused), with the count of requests sent.
 */
export async function unrefusedAttacks(
  app: Pick<FastifyInstance, 'inject'>,
  requests: readonly InjectOptions[],
  attacks: Record<string, string>,
): Promise<{ sent: number; unrefused: Refusal[] }> {
  const unrefused: Refusal[] = []
  let sent = 0
  for (const request of requests) {
    for (const [attack, authorization] of Object.entries(attacks)) {
      const response = await app.inject({ ...request, headers: { ...request.headers, authorization } })
      sent += 1
      const code = response.statusCode < 500 ? (response.json() as { code?: unknown }).code : undefined
      if (response.statusCode !== 401 || code !== 'UNAUTHORIZED')
        unrefused.push({ attack, request: `${request.method ?? 'GET'} ${request.url}`, status: response.statusCode, code })
    }
  }
  return { sent, unrefused }
}
