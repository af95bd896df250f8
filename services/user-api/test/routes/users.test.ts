import t, { type Test } from 'tap'
import { createTestDatabase } from '@commerce/db/testing'
import { bearer, testEnv } from '@commerce/kit/testing'
import { buildApp } from '../../src/app.ts'
import { loadServiceConfig } from '../../src/config.ts'

async function setup(t: Test) {
  const app = await buildApp({ config: loadServiceConfig(testEnv(await createTestDatabase(t))), logger: false })
  t.teardown(() => app.close())
  await app.ready()
  await app.pool.query("INSERT INTO users (id, name, grade) VALUES (1, 'alice', 'GOLD'), (2, 'bob', 'BRONZE')")
  // Asia/Seoul October: 2026-09-30 15:00 UTC … 2026-10-31 15:00 UTC.
  await app.pool.query(`INSERT INTO orders (user_id, amount, category, status, ordered_at) VALUES
    (1, 300000, 'books', 'PAID', '2026-10-05 10:00:00'), (1, 900000, 'travel', 'CANCELLED', '2026-10-06 10:00:00'),
    (1, 50000, 'music', 'PAID', '2026-10-31 15:00:00'), (2, 1000, 'books', 'PAID', '2026-10-07 00:00:00')`)
  await app.pool.query(
    "INSERT INTO grade_history (user_id, period, from_grade, to_grade, total, order_count) VALUES (1, '2026-09', 'BRONZE', 'GOLD', 600000, 2)",
  )
  return app
}

t.test('a user reads their own profile, history and orders; admins read anyone', async (t) => {
  const app = await setup(t)
  const me = await app.inject({ url: '/users/1', headers: bearer(1) })
  t.equal(me.statusCode, 200)
  t.same(me.json(), { id: 1, name: 'alice', grade: 'GOLD', gradeUpdatedAt: null, recalculating: false })
  t.match((await app.inject({ url: '/users/1/grade-history', headers: bearer(1) })).json(), {
    history: [{ period: '2026-09', fromGrade: 'BRONZE', toGrade: 'GOLD', total: 600000, orderCount: 2 }],
    recalculating: false,
  })
  const orders = (await app.inject({ url: '/users/1/orders?period=2026-10', headers: bearer(1) })).json()
  t.equal(orders.orders.length, 2, 'the order at 2026-11-01 00:00 Seoul time belongs to November')
  t.same([orders.total, orders.count], [300000, 1], 'only PAID orders count')
  t.equal((await app.inject({ url: '/users/2', headers: bearer(9, 'admin') })).statusCode, 200)
})

t.test('placing an order', async (t) => {
  const app = await setup(t)
  const placed = await app.inject({ method: 'POST', url: '/users/2/orders', headers: bearer(2), payload: { amount: 12000, category: 'books' } })
  t.equal(placed.statusCode, 201)
  t.match(placed.json(), { userId: 2, amount: 12000, category: 'books', status: 'PAID', orderedAt: String })
  const [[row]] = await app.pool.query<import('@commerce/db').RowDataPacket[]>('SELECT COUNT(*) AS n FROM orders WHERE user_id = 2')
  t.equal(row?.n, 2)
  t.equal(
    (await app.inject({ method: 'POST', url: '/users/2/orders', headers: bearer(9, 'admin'), payload: { amount: 100, category: 'x' } })).statusCode,
    403,
    'admins do not buy for users',
  )
})

t.test('placing an order with an Idempotency-Key: a retry answers the first order, another body is 409', async (t) => {
  const app = await setup(t)
  const place = (userId: number, key: string, payload: object) =>
    app.inject({ method: 'POST', url: `/users/${userId}/orders`, headers: { ...bearer(userId), 'idempotency-key': key }, payload })
  const count = async () => (await app.pool.query<import('@commerce/db').RowDataPacket[]>('SELECT COUNT(*) AS n FROM orders WHERE user_id = 2'))[0][0]?.n
  const first = await place(2, 'order-1', { amount: 12000, category: 'books' })
  t.equal(first.statusCode, 201)
  const retry = await place(2, 'order-1', { amount: 12000, category: 'books' })
  t.same([retry.statusCode, retry.json()], [201, first.json()], 'the retry answers the first order')
  t.equal(await count(), 2, 'one new order')
  const reused = await place(2, 'order-1', { amount: 13000, category: 'books' })
  t.same([reused.statusCode, reused.json().code], [409, 'IDEMPOTENCY_KEY_REUSED'])
  t.equal((await place(2, 'order-1', { amount: 12000, category: 'Books' })).json().code, 'IDEMPOTENCY_KEY_REUSED', 'the category compares exactly')
  t.not((await place(2, 'ORDER-1', { amount: 12000, category: 'books' })).json().id, first.json().id, 'keys compare byte for byte')
  t.not((await place(1, 'order-1', { amount: 12000, category: 'books' })).json().id, first.json().id, 'keys are per user')
  t.equal(await count(), 3)

  const racing = await Promise.all(Array.from({ length: 6 }, () => place(2, 'order-2', { amount: 500, category: 'music' })))
  t.same(new Set(racing.map((r) => `${r.statusCode} ${r.json().id}`)).size, 1, 'concurrent duplicates get one answer')
  t.equal(await count(), 4, 'and one order')
  t.equal((await place(2, "k' OR 1=1", { amount: 500, category: 'music' })).statusCode, 400)
  t.equal((await place(2, 'x'.repeat(65), { amount: 500, category: 'music' })).statusCode, 400)
})

t.test('auth: absent, bad and foreign tokens', async (t) => {
  const app = await setup(t)
  for (const url of ['/users/1', '/users/1/grade-history', '/users/1/orders?period=2026-10']) {
    t.equal((await app.inject({ url })).json().code, 'UNAUTHORIZED', url)
    t.equal((await app.inject({ url, headers: { authorization: 'Bearer x.y.z' } })).statusCode, 401, url)
    t.equal((await app.inject({ url, headers: bearer(2) })).json().code, 'FORBIDDEN', url)
  }
  t.equal((await app.inject({ method: 'POST', url: '/users/1/orders', headers: bearer(2), payload: { amount: 100, category: 'x' } })).statusCode, 403)
})

t.test('recalculating while the user is in a RUNNING run whose chunk is not DONE', async (t) => {
  const app = await setup(t)
  await app.pool.query("INSERT INTO batch_runs (id, job, period, strategy, status) VALUES (1, 'monthly-grade', '2026-10', 'bulk', 'RUNNING')")
  await app.pool.query("INSERT INTO batch_targets (run_id, user_id, chunk_no, total, order_count, to_grade) VALUES (1, 1, 0, 300000, 1, 'SILVER')")
  await app.pool.query("INSERT INTO step_execution_log (run_id, step, chunk_no) VALUES (1, 'grade', 0)")
  await app.batchGuard.view.refresh()
  t.equal((await app.inject({ url: '/users/1', headers: bearer(1) })).json().recalculating, true)
  t.equal((await app.inject({ url: '/users/1/grade-history', headers: bearer(1) })).json().recalculating, true)
  t.equal((await app.inject({ url: '/users/2', headers: bearer(2) })).json().recalculating, false, 'non-targets are not')

  // The chunk's transaction holds user 1's row: the read still answers at once from the snapshot.
  const chunk = await app.pool.getConnection()
  t.teardown(() => chunk.release())
  await chunk.beginTransaction()
  await chunk.query("UPDATE users SET grade = 'SILVER' WHERE id = 1")
  const during = await app.inject({ url: '/users/1', headers: bearer(1) })
  t.match(during.json(), { grade: 'GOLD', recalculating: true }, 'the committed snapshot, no lock wait')
  await chunk.query("UPDATE step_execution_log SET status = 'DONE'")
  await chunk.commit()
  await app.batchGuard.view.refresh()
  t.match((await app.inject({ url: '/users/1', headers: bearer(1) })).json(), { grade: 'SILVER', recalculating: false })
})

t.test('bad input is a 4xx with a code, never a 5xx', async (t) => {
  const app = await setup(t)
  const json = { 'content-type': 'application/json' }
  const cases: [string, string, Record<string, string>, string | undefined, number][] = [
    ['GET', '/users/0', bearer(1), undefined, 400],
    ['GET', '/users/-1', bearer(1), undefined, 400],
    ['GET', '/users/abc', bearer(1), undefined, 400],
    ['GET', '/users/1.5', bearer(1), undefined, 400],
    ['GET', '/users/99999999999999999999', bearer(1), undefined, 400],
    ['GET', "/users/1'%20OR%201=1", bearer(1), undefined, 400],
    ['GET', '/users/77', bearer(77), undefined, 404],
    ['GET', '/users/1/orders', bearer(1), undefined, 400],
    ['GET', '/users/1/orders?period=2026-13', bearer(1), undefined, 400],
    // Periods the app has no month for: before 1970 (Date.UTC reads 0000–0099 as 1900–1999) or past 9999.
    ['GET', '/users/1/orders?period=0000-01', bearer(1), undefined, 400],
    ['GET', '/users/1/orders?period=0026-10', bearer(1), undefined, 400],
    ['GET', '/users/1/orders?period=1969-12', bearer(1), undefined, 400],
    ['GET', '/users/1/orders?period=10000-01', bearer(1), undefined, 400],
    ['GET', '/users/1/orders?period=%2B2026-10', bearer(1), undefined, 400],
    ['GET', '/users/1/orders?period=2026-10&limit=0', bearer(1), undefined, 400],
    ['GET', '/users/1/orders?period=2026-10&limit=9999', bearer(1), undefined, 400],
    ['POST', '/users/1/orders', { ...bearer(1), ...json }, '{"amount":', 400],
    ['POST', '/users/1/orders', { ...bearer(1), ...json }, '{"amount":-5,"category":"x"}', 400],
    ['POST', '/users/1/orders', { ...bearer(1), ...json }, '{"amount":1e12,"category":"x"}', 400],
    ['POST', '/users/1/orders', { ...bearer(1), ...json }, '{"amount":"abc","category":"x"}', 400],
    ['POST', '/users/1/orders', { ...bearer(1), ...json }, '{"amount":100}', 400],
    ['POST', '/users/1/orders', { ...bearer(1), ...json }, '{"amount":100,"category":"a\\u0000b"}', 400],
    ['POST', '/users/1/orders', { ...bearer(1), ...json }, `{"amount":100,"category":"${'x'.repeat(21)}"}`, 400],
    ['POST', '/users/1/orders', { ...bearer(1), ...json }, `{"amount":100,"category":"x","pad":"${'x'.repeat(20_000)}"}`, 413],
    ['POST', '/users/1/orders', { ...bearer(1), 'content-type': 'text/csv' }, 'amount\n100', 415],
    ['POST', '/users/77/orders', { ...bearer(77), ...json }, '{"amount":100,"category":"x"}', 404],
  ]
  for (const [method, url, headers, payload, status] of cases) {
    const response = await app.inject({ method: method as 'GET' | 'POST', url, headers, payload })
    t.equal(response.statusCode, status, `${method} ${url} ${payload?.slice(0, 40) ?? ''}`)
    t.type(response.json().code, 'string')
  }
  for (const period of ['1970-01', '9999-12']) {
    const response = await app.inject({ url: `/users/1/orders?period=${period}`, headers: bearer(1) })
    t.same([response.statusCode, response.json().count], [200, 0], `the first and last periods are months like any (${period})`)
  }
})

t.test('the OpenAPI document lists every route', async (t) => {
  const app = await setup(t)
  const doc = (await app.inject('/openapi.json')).json()
  t.equal(doc.openapi.slice(0, 2), '3.')
  t.same(Object.keys(doc.paths).sort(), ['/health', '/metrics', '/ready', '/users/{id}', '/users/{id}/grade-history', '/users/{id}/orders'])
})
