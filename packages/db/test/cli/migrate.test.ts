import t from 'tap'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { createPool, dropDatabase, withDatabase, databaseUrl } from '../../src/index.ts'
import { tableNames } from '../../src/testing.ts'

const run = (env: Record<string, string>) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/migrate.ts'], { env: { PATH: process.env.PATH ?? '', ...env } }).then(
    ({ stdout }) => ({ code: 0, out: stdout }),
    (error: { code: number; stderr: string }) => ({ code: error.code, out: error.stderr }),
  )

t.test('the deployment migrate job requires DATABASE_URL: no fallback to a local server', async (t) => {
  t.same(await run({}), { code: 1, out: 'error: DATABASE_URL is required (mysql://user:password@host:port/database)\n' })
})

t.test('the deployment migrate job creates the database and applies every migration', async (t) => {
  const url = withDatabase(databaseUrl(), `test_${randomBytes(6).toString('hex')}`)
  t.teardown(() => dropDatabase(url))
  const { code, out } = await run({ DATABASE_URL: url })
  t.equal(code, 0, out)
  t.match(out, /^migrations applied to /)
  const pool = createPool({ url, role: 'tool', connectionLimit: 1 })
  t.teardown(() => pool.end())
  t.ok((await tableNames(pool)).includes('users'))
})
