import t from 'tap'
import { randomBytes } from 'node:crypto'
import { Type } from 'typebox'
import { baseConfigSchema, ConfigError, exampleAuthSecret, loadConfig, serviceConfig, weakSecretReason } from '../src/config.ts'
import { testSecret } from '../src/testing.ts'

const valid = { DATABASE_URL: 'mysql://a:b@127.0.0.1:3307/x', AUTH_SECRET: 'f3a9c1e07b5d42869e1c0a7f3b2d5e84' }

t.test('defaults are applied and numbers converted', async (t) => {
  const config = loadConfig(baseConfigSchema, { ...valid, PORT: '4000', UNRELATED: 'dropped' })
  t.equal(config.PORT, 4000)
  t.equal(config.HEARTBEAT_MS, 5000)
  t.equal(config.LOG_LEVEL, 'info')
  t.notOk('UNRELATED' in config)
})

t.test('every problem is reported in one error', async (t) => {
  const error = t.throws(() => loadConfig(baseConfigSchema, { AUTH_SECRET: 'short', PORT: 'eighty' })) as Error
  t.type(error, ConfigError)
  t.match(error.message, /DATABASE_URL/)
  t.match(error.message, /AUTH_SECRET/)
  t.match(error.message, /PORT/)
})

t.test("a fragment's cross-setting check runs once every field is valid, its problem listed with the others", async (t) => {
  const schema = serviceConfig({ LOW: Type.Integer({ default: 1 }), HIGH: Type.Integer({ default: 2 }) })
  const ordered = ({ LOW, HIGH }: { LOW: number; HIGH: number }) => (HIGH > LOW ? undefined : `HIGH: must be above LOW (${LOW})`)
  t.equal(loadConfig(schema, valid, [ordered]).HIGH, 2)
  t.throws(() => loadConfig(schema, { ...valid, HIGH: '1' }, [ordered]), { message: 'invalid configuration: HIGH: must be above LOW (1)' })
  t.throws(
    () => loadConfig(schema, { ...valid, HIGH: '1', PORT: 'x' }, [ordered]),
    { message: /^invalid configuration: PORT: [^;]+$/ },
    'not run on invalid fields',
  )
})

t.test('services extend the base schema', async (t) => {
  const schema = serviceConfig({ FLUSH_MS: Type.Integer({ default: 2 }) })
  t.equal(loadConfig(schema, valid).FLUSH_MS, 2)
})

t.test('process.env itself is read, converted and left untouched', async (t) => {
  const saved = { PORT: process.env.PORT, DATABASE_URL: process.env.DATABASE_URL, AUTH_SECRET: process.env.AUTH_SECRET }
  t.teardown(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })
  Object.assign(process.env, valid, { PORT: '4000' })
  const config = loadConfig(baseConfigSchema)
  t.equal(config.PORT, 4000)
  t.equal(config.HEARTBEAT_MS, 5000)
  t.equal(process.env.PORT, '4000')
  t.notOk('HEARTBEAT_MS' in process.env, 'defaults are not written into the environment')
  t.ok(process.env.PATH, 'variables outside the schema stay')
})

t.test('a weak or default AUTH_SECRET of the right length refuses to load, with one line naming it', async (t) => {
  const weak = {
    'one character repeated': 'x'.repeat(32),
    'the committed example': exampleAuthSecret,
    'few distinct characters': 'abcabcabcabcabcabcabcabcabcabcabcabc',
    changeme: 'changeme-0123456789-changeme-0123456789',
    'a placeholder phrase': 'your-secret-goes-here-0123456789abcdef',
    'a long run of two digits': '0101010101010101010101010101010101',
  }
  for (const [why, secret] of Object.entries(weak)) {
    const error = t.throws(() => loadConfig(baseConfigSchema, { ...valid, AUTH_SECRET: secret }), why) as Error
    t.type(error, ConfigError, why)
    t.match(error.message, /^invalid configuration: AUTH_SECRET: [^\n]+$/, why)
    t.notMatch(error.message, secret, 'the secret itself is not printed')
  }
})

t.test('a short secret is reported once, as too short', async (t) => {
  const error = t.throws(() => loadConfig(baseConfigSchema, { ...valid, AUTH_SECRET: 'aaaa' })) as Error
  t.equal(error.message.match(/AUTH_SECRET/g)?.length, 1)
})

t.test("random secrets, the tests' secret and `openssl rand -hex 32` output load", async (t) => {
  for (const secret of [valid.AUTH_SECRET, testSecret, randomBytes(48).toString('base64url'), randomBytes(32).toString('hex')]) {
    t.equal(weakSecretReason(secret), undefined, secret)
    t.equal(loadConfig(baseConfigSchema, { ...valid, AUTH_SECRET: secret }).AUTH_SECRET, secret)
  }
})
