import t, { type Test } from 'tap'
import type { RowDataPacket } from '@commerce/db'
import { periodOf } from '@commerce/domain'
import { createTestDatabase, tableNames } from '@commerce/db/testing'
import { assertFuzzClean, fuzzService, operatorRoutes, sqlInjections, type FuzzRoute } from '@commerce/kit/fuzz'
import { attackTokens, bearer, testEnv, unrefusedAttacks } from '@commerce/kit/testing'
import { buildApp } from '../../src/app.ts'
import { userErrors } from '../../src/errors.ts'
import { loadServiceConfig } from '../../src/config.ts'
import { userFuzzRoutes } from '../fuzz-routes.ts'

const [alice, bob, admin] = [101, 102, 9]

async function setup(t: Test) {
  const app = await buildApp({ config: loadServiceConfig(testEnv(await createTestDatabase(t))), logger: false })
  t.teardown(() => app.close())
  await app.ready()
  await app.pool.query("INSERT INTO users (id, name, grade) VALUES (?, 'alice', 'GOLD'), (?, 'bob', 'BRONZE')", [alice, bob])
  await app.pool.query("INSERT INTO orders (user_id, amount, category, status, ordered_at) VALUES (?, 300000, 'books', 'PAID', '2026-10-05 10:00:00')", [bob])
  await app.pool.query(
    "INSERT INTO grade_history (user_id, period, from_grade, to_grade, total, order_count) VALUES (?, '2026-09', 'BRONZE', 'GOLD', 600000, 2)",
    [bob],
  )
  return app
}

const routes: FuzzRoute[] = [...userFuzzRoutes({ users: [alice, bob] }), ...operatorRoutes]

t.test('fuzz: every route answers malformed input with a 4xx and a code, never a 5xx or a leak', async (t) => {
  const app = await setup(t)
  const before = await tableNames(app.pool)
  const authorizations = [bearer(alice).authorization, bearer(bob).authorization, bearer(admin, 'admin').authorization]
  const report = await fuzzService(app, routes, {
    service: 'user-api',
    errors: userErrors,
    seed: 20261001,
    runs: 5000,
    authorizations,
    attacks: Object.values(attackTokens(alice)),
  })
  assertFuzzClean(t, report)
  t.ok(report.statuses['201'], 'some orders were valid enough to be placed')
  t.ok(Object.keys(report.statuses).length >= 5, 'the fuzz reached several outcomes (not one wall of 400s)')
  t.same(await tableNames(app.pool), before, 'every table is still there')
})

t.test('auth: forged, expired, wrong-algorithm, wrong-secret, malformed and wrong-scheme tokens are 401 on every route', async (t) => {
  const app = await setup(t)
  const requests = [
    { method: 'GET' as const, url: `/users/${alice}` },
    { method: 'GET' as const, url: `/users/${alice}/grade-history` },
    { method: 'GET' as const, url: `/users/${alice}/orders?period=2026-10` },
    { method: 'POST' as const, url: `/users/${alice}/orders`, payload: { amount: 12000, category: 'books' } },
  ]
  const attacks = attackTokens(alice)
  const { sent, unrefused } = await unrefusedAttacks(app, requests, attacks)
  t.comment(
    `auth user-api: ${Object.keys(attacks).length} attack headers × ${requests.length} routes = ${sent} requests, ${sent - unrefused.length} × 401 UNAUTHORIZED`,
  )
  t.same(unrefused, [])
  const [[orders]] = (await app.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM orders WHERE user_id = ?', [alice])) as [RowDataPacket[], unknown]
  t.equal(orders?.n, 0, 'no refused request placed an order')
})

t.test('horizontal access: a user never reaches another user’s profile, history or orders', async (t) => {
  const app = await setup(t)
  const asAlice = bearer(alice)
  for (const [method, url, payload] of [
    ['GET', `/users/${bob}`],
    ['GET', `/users/${bob}/grade-history`],
    ['GET', `/users/${bob}/orders?period=2026-10`],
    ['POST', `/users/${bob}/orders`, { amount: 12000, category: 'books' }],
  ] as const) {
    const response = await app.inject({ method, url, headers: asAlice, ...(payload ? { payload } : {}) })
    t.same([response.statusCode, response.json().code], [403, 'FORBIDDEN'], `${method} ${url}`)
    t.notMatch(response.body, /bob|300000|GOLD/, 'nothing of bob in the refusal')
  }
  const [[orders]] = (await app.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM orders WHERE user_id = ?', [bob])) as [RowDataPacket[], unknown]
  t.equal(orders?.n, 1, 'alice placed no order for bob')
})

t.test('SQL injection in an order category is stored byte-identical or refused, never executed', async (t) => {
  const app = await setup(t)
  const before = await tableNames(app.pool)
  let orderedAt = ''
  for (const category of [...sqlInjections, "x'--", 'a"b\\c', '%_%', '한글 카테고리']) {
    const placed = await app.inject({ method: 'POST', url: `/users/${alice}/orders`, headers: bearer(alice), payload: { amount: 1000, category } })
    orderedAt = placed.json().orderedAt ?? orderedAt
    if (category.length > 20) {
      t.same([placed.statusCode, placed.json().code], [400, 'VALIDATION'], `${category}: too long for a category, refused`)
      continue
    }
    t.equal(placed.statusCode, 201, category)
    const [[row]] = (await app.pool.query<RowDataPacket[]>('SELECT category, HEX(category) AS hex FROM orders WHERE id = ?', [placed.json().id])) as [
      RowDataPacket[],
      unknown,
    ]
    t.equal(row?.category, category, 'read back as sent')
    t.equal(row?.hex, Buffer.from(category, 'utf8').toString('hex').toUpperCase(), 'byte-identical')
    t.equal(placed.json().category, category)
  }
  // The period the orders were placed in, in the business time zone (the UTC month differs for
  // the first 9 hours of a Seoul month).
  const period = periodOf(new Date(orderedAt))
  const listed = (await app.inject({ url: `/users/${alice}/orders?period=${period}&limit=500`, headers: bearer(alice) })).json()
  t.ok(
    listed.orders.some((order: { category: string }) => order.category === "' OR '1'='1"),
    'listed back verbatim',
  )
  t.same(await tableNames(app.pool), before, 'no table dropped or created')
  const [[users]] = (await app.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM users')) as [RowDataPacket[], unknown]
  t.equal(users?.n, 2, 'users intact')
})
