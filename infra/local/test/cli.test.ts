import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createTokenVerifier } from '@commerce/kit'
import { createTestDatabase } from '@commerce/db/testing'
import { createPool, type RowDataPacket } from '@commerce/db'

const cwd = fileURLToPath(new URL('..', import.meta.url))

function cli(script: string, args: string[], env: Record<string, string> = {}) {
  const result = spawnSync('node', ['--import', 'tsx', `src/cli/${script}.ts`, ...args], { cwd, env: { ...process.env, ...env }, encoding: 'utf8' })
  return { code: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() }
}

const secret = 'cli-test-secret-of-at-least-thirty-two-chars'

t.test('token prints a JWT signed with the stack secret', async (t) => {
  const { code, stdout } = cli('token', ['--sub', '42', '--role', 'admin'], { AUTH_SECRET: secret })
  t.equal(code, 0)
  const token = stdout.split('\n').at(-1) ?? ''
  t.same(createTokenVerifier(secret)(token), { userId: 42, role: 'admin' })
})

t.test('token rejects bad flags with one line', async (t) => {
  for (const args of [['--sub', 'abc'], ['--sub', '0'], ['--sub', '1', '--role', 'root'], ['--nope'], []]) {
    const { code, stderr } = cli('token', args, { AUTH_SECRET: secret })
    t.equal(code, 1, args.join(' '))
    t.match(stderr, /^error: [^\n]+$/, args.join(' '))
  }
})

t.test('migrate applies the migrations to DATABASE_URL', async (t) => {
  const url = await createTestDatabase(t)
  const { code, stdout } = cli('migrate', [], { DATABASE_URL: url })
  t.equal(code, 0)
  t.match(stdout, /migrations applied/)
  const pool = createPool({ url, role: 'api' })
  t.teardown(() => pool.end())
  const [tables] = await pool.query<RowDataPacket[]>('SHOW TABLES')
  t.equal(tables.length, 13, 'twelve tables and the migrations journal')
})

t.test('an unreachable DATABASE_URL is a one-line error', async (t) => {
  const { code, stderr } = cli('migrate', [], { DATABASE_URL: 'mysql://app:app@127.0.0.1:1/nowhere' })
  t.equal(code, 1)
  t.match(stderr, /^error: cannot reach DATABASE_URL \(127\.0\.0\.1:1\)[^\n]*$/)
})
