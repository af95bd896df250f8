import t from 'tap'
import { Type } from 'typebox'
import { baseConfigSchema, ConfigError, loadConfig, serviceConfig } from '../src/config.ts'

const valid = { DATABASE_URL: 'mysql://a:b@127.0.0.1:3307/x', AUTH_SECRET: 'x'.repeat(32) }

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
