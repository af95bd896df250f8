import t from 'tap'
import { loadConfig, serviceConfig } from '../../src/config.ts'
import { batchGuardConfigCheck, batchGuardConfigProperties } from '../../src/plugins/batch-guard.ts'

const valid = { DATABASE_URL: 'mysql://a:b@127.0.0.1:3307/x', AUTH_SECRET: 'f3a9c1e07b5d42869e1c0a7f3b2d5e84' }
const schema = serviceConfig(batchGuardConfigProperties)
const load = (env: Record<string, string>) => loadConfig(schema, { ...valid, ...env }, [batchGuardConfigCheck])

t.test('a guard view may not be trusted past 4 refreshes of it', async (t) => {
  t.equal(load({}).BATCH_GUARD_MAX_AGE_MS, 1000)
  t.equal(load({ BATCH_GUARD_REFRESH_MS: '100', BATCH_GUARD_MAX_AGE_MS: '400' }).BATCH_GUARD_MAX_AGE_MS, 400)
  t.throws(() => load({ BATCH_GUARD_REFRESH_MS: '100', BATCH_GUARD_MAX_AGE_MS: '399' }), {
    message: 'invalid configuration: BATCH_GUARD_MAX_AGE_MS: must be ≥ 4 × BATCH_GUARD_REFRESH_MS (400)',
  })
})
