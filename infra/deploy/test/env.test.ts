import t, { type Test } from 'tap'
import { Value } from 'typebox/value'
import { randomBytes } from 'node:crypto'
import { exampleAuthSecret, loadConfig } from '@commerce/kit'
import {
  acceptedNames,
  composeProcesses,
  configSchemas,
  k8sProcesses,
  k8sSecretExample,
  requiredWithoutDefault,
  serviceOf,
  type ImageProcess,
} from './helpers.ts'

/**
 * The migrate job (packages/db/src/cli/migrate.ts) reads no config schema: only DATABASE_URL,
 * through @commerce/db's databaseUrl().
 */
const migrateSettings = ['DATABASE_URL']

/** A name a `sh -c` command reads itself (e.g. BATCH_PERIOD) is the script's, not the service's. */
const readByScript = (process: ImageProcess, name: string) =>
  process.command.some((argument) => argument.includes(`$${name}`) || argument.includes(`\${${name}`))

function checkSettings(t: Test, process: ImageProcess, secretValues: Record<string, string>) {
  t.test(process.origin, async (t) => {
    const service = serviceOf(process)
    const names = Object.keys(process.env)
    if (!service) {
      t.same(
        names.filter((name) => !migrateSettings.includes(name)),
        [],
        'the migrate job gets only what it reads',
      )
      t.ok(names.includes('DATABASE_URL'), 'the migrate job gets DATABASE_URL')
      return
    }
    const schema = configSchemas[service]
    const accepted = acceptedNames(schema)
    for (const name of names) {
      t.ok(accepted.includes(name) || readByScript(process, name), `${name} is a ${service} setting`)
    }
    for (const name of requiredWithoutDefault(schema)) t.ok(names.includes(name), `${name} (required, no default) is set`)
    // The environment the process would see, secrets from the committed example: it must load.
    const env: Record<string, string> = {}
    for (const [name, value] of Object.entries(process.env)) {
      const secretKey = process.secretRefs[name]
      const resolved = secretKey === undefined ? value : secretValues[secretKey]
      t.ok(resolved !== undefined, `${name} has a value${secretKey ? ` (secret key ${secretKey})` : ''}`)
      if (resolved !== undefined) env[name] = resolved
    }
    // The committed examples hold a placeholder secret: a copy left unedited must not start.
    t.equal(env.AUTH_SECRET, exampleAuthSecret, 'AUTH_SECRET comes from the committed example')
    t.throws(() => loadConfig(schema, env), { message: /AUTH_SECRET: is the example value/ }, `${service} refuses the example AUTH_SECRET`)
    env.AUTH_SECRET = randomBytes(32).toString('hex')
    t.doesNotThrow(() => loadConfig(schema, env), `${service} accepts this environment with a random AUTH_SECRET`)
    if (process.ports.length > 0) t.same(process.ports, [Number(env.PORT)], 'the container port is the PORT the service listens on')
    if (service !== 'batch-worker' || process.command.join(' ').includes('daemon')) {
      // Anything that listens must listen beyond loopback inside a container (the image sets it too).
      t.equal(env.HOST ?? '0.0.0.0', '0.0.0.0')
    }
  })
}

t.test('Compose: every setting is one the service accepts, and every required one is set', async (t) => {
  for (const process of composeProcesses()) checkSettings(t, process, {})
})

t.test('Kubernetes: every setting is one the service accepts, and every required one is set', async (t) => {
  const secret = k8sSecretExample()
  t.same(Object.keys(secret).sort(), ['AUTH_SECRET', 'DATABASE_URL'], 'the Secret holds the auth secret and the DB URL')
  for (const process of k8sProcesses()) checkSettings(t, process, secret)
})

t.test('the check refuses a misspelt or missing setting', async (t) => {
  const schema = configSchemas['event-apply']
  t.notOk(acceptedNames(schema).includes('EVENT_FLUSH_ROW'), 'a misspelt name is not accepted')
  t.ok(acceptedNames(schema).includes('EVENT_FLUSH_ROWS'), 'names come from the schema, so new settings are accepted')
  t.same(requiredWithoutDefault(schema).sort(), ['AUTH_SECRET', 'DATABASE_URL'])
  t.notOk(Value.Check(schema, { DATABASE_URL: 'mysql://x/y' }), 'an environment without AUTH_SECRET does not load')
  t.throws(
    () => loadConfig(configSchemas['user-api'], { DATABASE_URL: 'mysql://a@b/c', AUTH_SECRET: randomBytes(32).toString('hex'), PORT: 'http' }),
    { message: /^invalid configuration: PORT: / },
    'a wrong PORT value does not load',
  )
})
