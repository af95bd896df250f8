import t, { type Test } from 'tap'
import { v7 as uuidv7 } from 'uuid'
import { uuidToBytes, type RowDataPacket } from '@commerce/db'
import { createTestDatabase, tableNames } from '@commerce/db/testing'
import { assertFuzzClean, fuzzService, operatorRoutes, sqlInjections, type FuzzRoute } from '@commerce/kit/fuzz'
import { attackTokens, bearer, testEnv, unrefusedAttacks } from '@commerce/kit/testing'
import { buildApp } from '../../src/app.ts'
import { loadServiceConfig } from '../../src/config.ts'
import { couponErrors } from '../../src/errors.ts'
import { couponFuzzRoutes } from '../fuzz-routes.ts'

const [alice, bob, admin] = [201, 202, 9]
type App = Awaited<ReturnType<typeof buildApp>>

async function setup(t: Test) {
  const app = await buildApp({ config: loadServiceConfig(testEnv(await createTestDatabase(t), { COUPON_SWEEP_MS: '60000' })), logger: false })
  t.teardown(() => app.close())
  await app.ready()
  await app.pool.query("INSERT INTO users (id, name) VALUES (?, 'alice'), (?, 'bob')", [alice, bob])
  return app
}

async function coupons(app: App, userId: number, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => uuidv7())
  for (const [slot, id] of ids.entries()) {
    await app.pool.query(
      "INSERT INTO coupons (id, user_id, kind, period, slot, amount, status, issued_at, expires_at) VALUES (?, ?, 'GRADE', '2026-09', ?, 3000, 'ISSUED', '2026-10-01', '2099-01-01')",
      [uuidToBytes(id), userId, slot + 1],
    )
  }
  return ids
}

t.test('fuzz: every route answers malformed input with a 4xx and a code, never a 5xx or a leak', async (t) => {
  const app = await setup(t)
  const before = await tableNames(app.pool)
  // Many coupons: valid redemptions use them up, and a redeemed one still answers 200/409.
  const [mine, theirs] = [await coupons(app, alice, 30), await coupons(app, bob, 5)]
  const redemption = (
    await app.inject({ method: 'POST', url: `/coupons/${mine[0]}/redeem`, headers: { ...bearer(alice), 'idempotency-key': 'seed-1' } })
  ).json().redemptionId as string
  const routes: FuzzRoute[] = [...couponFuzzRoutes({ users: [alice, bob], coupons: [...mine, ...theirs], redemption }), ...operatorRoutes]
  const report = await fuzzService(app, routes, {
    service: 'coupon-api',
    errors: couponErrors,
    seed: 20261002,
    runs: 5000,
    authorizations: [bearer(alice).authorization, bearer(bob).authorization, bearer(admin, 'admin').authorization],
    attacks: Object.values(attackTokens(alice)),
  })
  assertFuzzClean(t, report)
  t.ok(report.statuses['200'] && report.statuses['409'] && report.statuses['403'], 'redemptions went through, were refused as done, and as someone else’s')
  t.same(await tableNames(app.pool), before, 'every table is still there')
  const [[doubles]] = (await app.pool.query<RowDataPacket[]>(
    "SELECT COUNT(*) AS n FROM coupons c WHERE c.status = 'REDEEMED' AND (SELECT COUNT(*) FROM coupon_redemptions r WHERE r.coupon_id = c.id AND r.status = 'REDEEMED') <> 1",
  )) as [RowDataPacket[], unknown]
  t.equal(doubles?.n, 0, 'every redeemed coupon has exactly one redemption')
  const [[foreign]] = (await app.pool.query<RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM coupon_redemptions r JOIN coupons c ON c.id = r.coupon_id WHERE r.user_id <> c.user_id',
  )) as [RowDataPacket[], unknown]
  t.equal(foreign?.n, 0, 'every redemption is by the coupon’s owner')
})

t.test('auth: forged, expired, wrong-algorithm, wrong-secret, malformed and wrong-scheme tokens are 401 on every route', async (t) => {
  const app = await setup(t)
  const [coupon] = await coupons(app, alice, 1)
  const redemption = (await app.inject({ method: 'POST', url: `/coupons/${coupon}/redeem`, headers: { ...bearer(alice), 'idempotency-key': 'k0' } })).json()
    .redemptionId as string
  const requests = [
    { method: 'GET' as const, url: `/users/${alice}/coupons` },
    { method: 'POST' as const, url: `/coupons/${coupon}/redeem`, headers: { 'idempotency-key': 'k1' } },
    { method: 'GET' as const, url: `/redemptions/${redemption}` },
  ]
  const attacks = attackTokens(alice)
  const { sent, unrefused } = await unrefusedAttacks(app, requests, attacks)
  t.comment(
    `auth coupon-api: ${Object.keys(attacks).length} attack headers × ${requests.length} routes = ${sent} requests, ${sent - unrefused.length} × 401 UNAUTHORIZED`,
  )
  t.same(unrefused, [])
  const [[rows]] = (await app.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM coupon_redemptions')) as [RowDataPacket[], unknown]
  t.equal(rows?.n, 1, 'no refused request recorded a redemption')
})

t.test('horizontal access: a user never lists, redeems or reads another user’s coupons and redemptions', async (t) => {
  const app = await setup(t)
  const [bobsCoupon, bobsOther] = await coupons(app, bob, 2)
  const bobsRedemption = (
    await app.inject({ method: 'POST', url: `/coupons/${bobsCoupon}/redeem`, headers: { ...bearer(bob), 'idempotency-key': 'b1' } })
  ).json().redemptionId as string
  for (const [method, url, headers] of [
    ['GET', `/users/${bob}/coupons`, {}],
    ['POST', `/coupons/${bobsOther}/redeem`, { 'idempotency-key': 'a1' }],
    ['POST', `/coupons/${bobsCoupon}/redeem`, { 'idempotency-key': 'b1' }],
    ['GET', `/redemptions/${bobsRedemption}`, {}],
  ] as const) {
    const response = await app.inject({ method, url, headers: { ...bearer(alice), ...headers } })
    t.same([response.statusCode, response.json().code], [403, 'FORBIDDEN'], `${method} ${url}`)
  }
  const [[other]] = (await app.pool.query<RowDataPacket[]>('SELECT status FROM coupons WHERE id = ?', [uuidToBytes(bobsOther!)])) as [RowDataPacket[], unknown]
  t.equal(other?.status, 'ISSUED', 'bob’s other coupon is untouched')
})

t.test('SQL injection in the Idempotency-Key or the ids is refused verbatim, never executed', async (t) => {
  const app = await setup(t)
  const before = await tableNames(app.pool)
  const [coupon] = await coupons(app, alice, 1)
  for (const key of sqlInjections) {
    const response = await app.inject({ method: 'POST', url: `/coupons/${coupon}/redeem`, headers: { ...bearer(alice), 'idempotency-key': key } })
    t.same([response.statusCode, response.json().code], [400, 'VALIDATION'], key)
  }
  for (const id of sqlInjections) {
    const response = await app.inject({ url: `/redemptions/${encodeURIComponent(id)}`, headers: bearer(alice) })
    t.same([response.statusCode, response.json().code], [400, 'VALIDATION'], id)
  }
  t.same(await tableNames(app.pool), before)
  const [[rows]] = (await app.pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM coupons WHERE status = 'ISSUED'")) as [RowDataPacket[], unknown]
  t.equal(rows?.n, 1)
})
