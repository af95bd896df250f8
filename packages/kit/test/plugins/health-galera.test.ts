import t from 'tap'
import { createConnection } from 'mysql2/promise'
import { createGaleraTestDatabase } from '@commerce/db/testing'
import { createServiceApp } from '../../src/app.ts'
import { testConfig } from '../../src/testing.ts'

// Readiness on a Galera node: served only while the node is Synced in the Primary component.
// Node 3, desynced by the test: it still answers queries, but from a copy that may fall behind.

t.test('a replica on a node that is not Synced is not ready (503, with the reason), and is again once it is', async (t) => {
  const urls = await createGaleraTestDatabase(t)
  const app = await createServiceApp({ service: 'user-api', config: testConfig(urls[2]!), logger: false })
  t.teardown(() => app.close())
  await app.ready()
  t.equal((await app.inject('/ready')).statusCode, 200, 'Synced in the Primary component')

  const admin = await createConnection({ uri: urls[2]!, connectTimeout: 5_000 })
  t.teardown(async () => {
    await admin.query('SET GLOBAL wsrep_desync = OFF').catch(() => undefined)
    await admin.end()
  })
  await admin.query('SET GLOBAL wsrep_desync = ON')
  const desynced = await app.inject('/ready')
  t.equal(desynced.statusCode, 503)
  t.equal(desynced.headers['retry-after'], '1')
  t.match(desynced.json(), { code: 'NOT_READY', message: /Galera node node3 is Donor\/Desynced in a Primary component/ })

  await admin.query('SET GLOBAL wsrep_desync = OFF')
  // The node reports Synced again once it has caught up: wait for that, not for a time.
  for (;;) {
    const ready = await app.inject('/ready')
    if (ready.statusCode === 200) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.pass('ready again once Synced')
})
