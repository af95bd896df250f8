import t from 'tap'
import { createHmac, generateKeyPairSync } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import { createTokenVerifier, signToken } from '../src/tokens.ts'

const secret = 'a-secret-of-at-least-thirty-two-characters!'
const verify = createTokenVerifier(secret)
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

t.test('a token signed with the secret yields the principal', async (t) => {
  const token = signToken(secret, { userId: 42, role: 'admin' }, 60)
  const { exp } = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString())
  t.ok(Math.abs(exp * 1000 - (Date.now() + 60_000)) < 5_000, 'exp: a minute from now')
  t.same(verify(token), { userId: 42, role: 'admin', expiresAtMs: exp * 1000 }, 'with its expiry, for what outlives a request')
})

t.test('forged, expired and confused tokens are refused', async (t) => {
  const claims = { sub: '42', role: 'admin', iat: Math.floor(Date.now() / 1000) }
  const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`
  t.throws(() => verify(unsigned), 'alg none')
  t.throws(() => verify(signToken('another-secret-of-thirty-two-characters!!', { userId: 42, role: 'user' })), 'wrong secret')
  t.throws(() => verify(createSigner({ key: secret, algorithm: 'HS256', expiresIn: -1000 })({ sub: '42', role: 'user' })), 'expired')
  const hs512 = createSigner({ key: secret, algorithm: 'HS512' })({ sub: '42', role: 'user' })
  t.throws(() => verify(hs512), 'other HMAC algorithm')
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  t.throws(
    () => verify(createSigner({ key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), algorithm: 'RS256' })({ sub: '42', role: 'user' })),
    'RS256',
  )
  // RS/HS confusion: HS256 "signed" with the public key as the secret.
  const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString()
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`
  t.throws(() => verify(`${head}.${createHmac('sha256', pem).update(head).digest('base64url')}`), 'public key as HMAC secret')
})

t.test('claims must name a user and a known role', async (t) => {
  const sign = createSigner({ key: secret, algorithm: 'HS256' })
  t.throws(() => verify(sign({ sub: 'abc', role: 'user' })))
  t.throws(() => verify(sign({ sub: '0', role: 'user' })))
  t.throws(() => verify(sign({ sub: '7', role: 'root' })))
  t.throws(() => verify(sign({ role: 'user' })))
})
