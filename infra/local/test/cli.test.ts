import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createTokenVerifier } from '@commerce/kit'
import { createTestDatabase, tableNames } from '@commerce/db/testing'
import { createPool, schemaTableNames, type RowDataPacket } from '@commerce/db'

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
  const { expiresAtMs, ...who } = createTokenVerifier(secret)(token)
  t.same(who, { userId: 42, role: 'admin' })
  t.type(expiresAtMs, 'number', 'it expires')
})

t.test('every command answers --help with its usage, before touching anything', async (t) => {
  for (const script of ['token', 'stack', 'seed', 'batch', 'migrate', 'test-all']) {
    for (const flag of ['--help', '-h']) {
      // A database that does not exist: a command that ignored --help would fail on it, not exit 0.
      const { code, stdout } = cli(script, [flag, '--nope'], { DATABASE_URL: 'mysql://nobody:x@127.0.0.1:1/none' })
      t.equal(code, 0, `${script} ${flag}`)
      t.match(stdout, /^usage: npm (run [\w:-]+|test)/, `${script} ${flag} prints its usage`)
    }
  }
})

t.test('a malformed --period is called invalid, a missing one required', async (t) => {
  t.match(cli('batch', ['--period', '2026-13']).stderr, /^error: --period "2026-13" is invalid/)
  t.match(cli('batch', []).stderr, /^error: --period YYYY-MM is required/)
})

t.test('token rejects bad flags with one line', async (t) => {
  for (const args of [['--sub', 'abc'], ['--sub', '0'], ['--sub', '1', '--role', 'root'], ['--nope'], []]) {
    const { code, stderr } = cli('token', args, { AUTH_SECRET: secret })
    t.equal(code, 1, args.join(' '))
    t.match(stderr, /^error: [^\n]+$/, args.join(' '))
  }
})

t.test('stack rejects bad flags with one line, before starting anything', async (t) => {
  for (const args of [['up', '--replicas', '0'], ['up', '--port', '70000'], ['up', '--nope'], ['down', '--port', '8081'], ['sideways']]) {
    const { code, stderr } = cli('stack', args)
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
  t.ok(schemaTableNames().length >= 12, 'the schema declares its tables')
  t.same((await tableNames(pool)).sort(), ['__drizzle_migrations', ...schemaTableNames()].sort(), 'every schema table and the migrations journal')
})

t.test('an unreachable DATABASE_URL is a one-line error', async (t) => {
  const { code, stderr } = cli('migrate', [], { DATABASE_URL: 'mysql://app:app@127.0.0.1:1/nowhere' })
  t.equal(code, 1)
  t.match(stderr, /^error: cannot reach DATABASE_URL \(127\.0\.0\.1:1\)[^\n]*$/)
})

t.test('seed rejects bad flags with one line, before touching a database', async (t) => {
  const valid = { users: ['--users', '10'], orders: ['--orders', '100'], period: ['--period', '2026-10'] }
  const cases = [
    ['--nope', ...valid.users, ...valid.orders, ...valid.period],
    ['--users', 'ten', ...valid.orders, ...valid.period],
    ['--users', '0', ...valid.orders, ...valid.period],
    ['--users', '2.5', ...valid.orders, ...valid.period],
    [...valid.users, '--orders', '-5', ...valid.period],
    [...valid.users, '--orders=-5', ...valid.period],
    [...valid.users, ...valid.orders, '--period', '2026-13'],
    [...valid.users, ...valid.orders, '--period', 'October'],
    [...valid.users, ...valid.orders, ...valid.period, '--seed', 'x'],
    [...valid.users, ...valid.orders],
  ]
  for (const args of cases) {
    // An unreachable server: a flag wrongly accepted would fail later with "cannot reach" instead.
    const { code, stderr } = cli('seed', args, { DATABASE_URL: 'mysql://app:app@127.0.0.1:1/nowhere' })
    t.equal(code, 1, args.join(' '))
    t.match(stderr, /^error: [^\n]+$/, args.join(' '))
    t.notMatch(stderr, /cannot reach/, `${args.join(' ')} is refused by the flag check`)
  }
})

t.test('seed loads the data set into DATABASE_URL and prints a summary', async (t) => {
  const url = await createTestDatabase(t)
  const { code, stdout, stderr } = cli('seed', ['--users', '200', '--orders', '3000', '--period', '2026-10', '--seed', '5'], { DATABASE_URL: url })
  t.equal(code, 0, stderr)
  t.match(stdout, /emptying users, orders, .* first/, 'says it resets by default')
  t.match(stdout, /^orders 100% \(3000\/3000\)$/m, 'plain progress lines when piped')
  t.match(
    stdout.split('\n').at(-1),
    /^seeded 200 users and 3000 orders around 2026-10 \(seed 5\) in [\d.]+ s, \d+ rows\/s; grades for 2026-10: VIP \d+ \([\d.]+%\) · GOLD \d+ \([\d.]+%\) · SILVER \d+ \([\d.]+%\) · BRONZE \d+ \([\d.]+%\)$/,
  )
  const pool = createPool({ url, role: 'api' })
  t.teardown(() => pool.end())
  const [rows] = await pool.query<RowDataPacket[]>('SELECT (SELECT COUNT(*) FROM users) AS users, (SELECT COUNT(*) FROM orders) AS orders')
  t.same(rows[0], { users: 200, orders: 3000 })
})

t.test('batch: --dry-run prints the plan and writes nothing; a period before the data is refused in one line', async (t) => {
  const url = await createTestDatabase(t)
  t.equal(cli('seed', ['--users', '200', '--orders', '3000', '--period', '2026-10', '--seed', '5'], { DATABASE_URL: url }).code, 0)
  const pool = createPool({ url, role: 'api' })
  t.teardown(() => pool.end())
  const runs = async () => Number((await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM batch_runs'))[0][0]?.n)

  const dry = cli('batch', ['--period', '2026-10', '--dry-run'], { DATABASE_URL: url })
  t.equal(dry.code, 0, dry.stderr)
  t.match(dry.stdout, /^dry run for 2026-10: \d+ targets in \d+ chunks, \d+ coupons to issue; nothing written$/m)
  t.equal(await runs(), 0, 'no run recorded')

  const refused = cli('batch', ['--period', '2020-01', '--workers', '1'], { DATABASE_URL: url })
  t.equal(refused.code, 1)
  t.match(refused.stderr, /^error: PERIOD_BEFORE_ORDERS: [^\n]+$/)
  t.equal(await runs(), 0, 'no run recorded, no worker started')
  t.match(cli('batch', ['--period', '2026-10', '--force'], { DATABASE_URL: url }).stderr, /^error: VALIDATION: force needs a reason/)
})

t.test('every root script installs what it needs first (a fresh clone has no node_modules)', async (t) => {
  const root = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }
  for (const [name, command] of Object.entries(root.scripts)) t.match(command, /^sh infra\/local\/bootstrap\.sh( |$)/, `npm run ${name}`)
})
