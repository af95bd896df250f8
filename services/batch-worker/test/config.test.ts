import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { testEnv } from '@commerce/kit/testing'
import { loadServiceConfig } from '../src/config.ts'

const env = (overrides: Record<string, string>) => testEnv('mysql://nobody@127.0.0.1:1/none', overrides)

t.test('BATCH_PUBLISH_DELAY_MS must cover two API guard refreshes, or the worker refuses to start', async (t) => {
  t.equal(loadServiceConfig(env({})).BATCH_PUBLISH_DELAY_MS, 500, 'the defaults hold (500 ≥ 2 × 200)')
  t.equal(loadServiceConfig(env({ BATCH_GUARD_REFRESH_MS: '250', BATCH_PUBLISH_DELAY_MS: '500' })).BATCH_PUBLISH_DELAY_MS, 500, 'exactly 2 × the refresh')
  for (const [refresh, delay] of [
    ['200', '100'],
    ['250', '499'],
    ['10', '0'],
  ] as const) {
    t.throws(
      () => loadServiceConfig(env({ BATCH_GUARD_REFRESH_MS: refresh, BATCH_PUBLISH_DELAY_MS: delay })),
      {
        message: `invalid configuration: BATCH_PUBLISH_DELAY_MS (${delay}) must be ≥ 2 × BATCH_GUARD_REFRESH_MS (${2 * Number(refresh)}): an API replica may not have seen a run before its chunks start`,
      },
      `${delay} ms against a ${refresh} ms refresh`,
    )
  }
})

t.test('both modes refuse to start on it with one line on stderr and exit 1', async (t) => {
  const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))
  for (const args of [['daemon'], ['run', '--period', '2026-10']]) {
    const child = spawnSync(process.execPath, ['--import', 'tsx', main, ...args], {
      env: { ...process.env, ...env({ BATCH_PUBLISH_DELAY_MS: '100' }) },
      encoding: 'utf8',
      timeout: 30_000,
    })
    t.equal(child.status, 1, `${args[0]}: exit code`)
    t.match(
      child.stderr.trim(),
      /^error: invalid configuration: BATCH_PUBLISH_DELAY_MS \(100\) must be ≥ 2 × BATCH_GUARD_REFRESH_MS \(400\)[^\n]*$/,
      `${args[0]}: one line`,
    )
  }
})
