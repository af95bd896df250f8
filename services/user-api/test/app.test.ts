import t from 'tap'
import { createTestDatabase } from '@commerce/db/testing'
import { testEnv } from '@commerce/kit/testing'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'

t.test('boots, registers as user-api and reports ready', async (t) => {
  const app = await buildApp({ config: loadServiceConfig(testEnv(await createTestDatabase(t))), logger: false })
  t.teardown(() => app.close())
  await app.ready()
  t.match((await app.inject('/health')).json(), { status: 'ok', service: 'user-api' })
  t.equal((await app.inject('/ready')).statusCode, 200)
  t.same(app.membership.view().members, [app.membership.id])
})
