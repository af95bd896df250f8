import t from 'tap'
import { Type } from 'typebox'
import { createTestDatabase } from '@commerce/db/testing'
import { createServiceApp } from '../src/app.ts'
import { attackTokens, bearer, testConfig, unrefusedAttacks } from '../src/testing.ts'

t.test("every attack token is refused with 401 UNAUTHORIZED by the kit's auth, while a valid token passes", async (t) => {
  const app = await createServiceApp({ service: 'user-api', config: testConfig(await createTestDatabase(t)), logger: false })
  t.teardown(() => app.close())
  app.get('/probe/:id', { schema: { params: Type.Object({ id: Type.Integer({ minimum: 1 }) }) } }, async (request) => ({
    who: app.auth.requireSelfOrAdmin(request, request.params.id),
  }))
  await app.ready()
  const { expiresAtMs, ...who } = (await app.inject({ url: '/probe/7', headers: bearer(7) })).json().who
  t.same(who, { userId: 7, role: 'user' })
  t.type(expiresAtMs, 'number', 'a test token expires')
  const attacks = attackTokens(7)
  t.ok(Object.keys(attacks).length >= 30, 'a broad set of attacks')
  const { sent, unrefused } = await unrefusedAttacks(
    app,
    [
      { method: 'GET', url: '/probe/7' },
      { method: 'GET', url: '/probe/8' },
    ],
    attacks,
  )
  t.equal(sent, 2 * Object.keys(attacks).length)
  t.same(unrefused, [])
})

t.test('unrefusedAttacks reports an attack that gets through', async (t) => {
  const app = await createServiceApp({ service: 'user-api', config: testConfig(await createTestDatabase(t)), logger: false })
  t.teardown(() => app.close())
  app.get('/open', async () => ({ ok: true }))
  await app.ready()
  const { unrefused } = await unrefusedAttacks(app, [{ method: 'GET', url: '/open' }], { garbage: 'Bearer x' })
  t.same(unrefused, [{ attack: 'garbage', request: 'GET /open', status: 200, code: undefined }])
})
