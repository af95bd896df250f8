import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { testEnv } from '@commerce/kit/testing'

// `batch-worker run` refuses a bad force before it connects anywhere (the database here is unreachable).
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))
const oneShot = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', main, 'run', '--period', '2026-10', ...args], {
    env: { ...process.env, ...testEnv('mysql://nobody@127.0.0.1:1/none', {}) },
    encoding: 'utf8',
    timeout: 30_000,
  })

t.test('the one-shot worker applies the same force rule as POST /runs, in one line', async (t) => {
  for (const [args, message] of [
    [['--force', '--reason', ' '.repeat(10)], /^error: VALIDATION: force needs a reason[^\n]*$/],
    [['--reason', 'a reason without force'], /^error: VALIDATION: a reason goes with force[^\n]*$/],
  ] as const) {
    const child = oneShot([...args])
    t.equal(child.status, 1, args.join(' '))
    t.match(child.stderr.trim(), message, args.join(' '))
  }
})
