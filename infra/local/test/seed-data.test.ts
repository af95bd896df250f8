import t, { type Test } from 'tap'
import { createConnection } from 'mysql2/promise'
import { createPool, type RowDataPacket } from '@commerce/db'
import { defaultGradePolicy, parsePeriod } from '@commerce/domain'
import { createTestDatabase } from '@commerce/db/testing'
import { seedData, seedOwnedTables, type SeedOptions } from '../src/seed-data.ts'

// Small sizes against the real MariaDB: the shape must already hold at 2,000 users.
const size = { users: 2_000, orders: 40_000, period: '2026-10' } as const
const range = parsePeriod(size.period)!

async function seed(url: string, options: Partial<SeedOptions> = {}) {
  return seedData({ url, ...size, seed: 1, reset: true, ...options })
}

function openPool(t: Test, url: string) {
  const pool = createPool({ url, role: 'batch' })
  t.teardown(() => pool.end())
  return pool
}

/** Byte-level fingerprint of both tables: every column of every row, in id order. */
async function fingerprint(url: string): Promise<{ users: string; orders: string }> {
  const connection = await createConnection({ uri: url, timezone: 'Z' })
  try {
    await connection.query('SET SESSION group_concat_max_len = 1073741824')
    const digest = async (sql: string) => String((await connection.query<RowDataPacket[]>(sql))[0][0]?.digest)
    return {
      users: await digest(
        `SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', id, name, grade, IFNULL(grade_updated_at, 'null'), created_at) ORDER BY id SEPARATOR '\n')) AS digest FROM users`,
      ),
      orders: await digest(
        `SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', id, user_id, amount, category, status, ordered_at) ORDER BY id SEPARATOR '\n')) AS digest FROM orders`,
      ),
    }
  } finally {
    await connection.end()
  }
}

/** The grade split straight from the table, the way the batch computes it (DESIGN §5). */
async function gradeSplitFromSql(url: string): Promise<Record<string, number>> {
  const pool = createPool({ url, role: 'batch' })
  try {
    const { VIP, GOLD, SILVER } = defaultGradePolicy.thresholds
    const [rows] = await pool.query<RowDataPacket[]>(
      `SELECT CASE WHEN total >= ? THEN 'VIP' WHEN total >= ? THEN 'GOLD' WHEN total >= ? THEN 'SILVER' ELSE 'BRONZE' END AS grade,
              COUNT(*) AS users
       FROM (SELECT u.id, COALESCE(SUM(o.amount), 0) AS total
             FROM users u
             LEFT JOIN orders o ON o.user_id = u.id AND o.status = 'PAID' AND o.ordered_at >= ? AND o.ordered_at < ?
             GROUP BY u.id) AS totals
       GROUP BY grade`,
      [VIP, GOLD, SILVER, range.start, range.end],
    )
    const split: Record<string, number> = { VIP: 0, GOLD: 0, SILVER: 0, BRONZE: 0 }
    for (const row of rows) split[String(row.grade)] = Number(row.users)
    return split
  } finally {
    await pool.end()
  }
}

t.test('the same seed gives byte-identical rows; another seed does not', async (t) => {
  const [first, second, other] = await Promise.all([createTestDatabase(t), createTestDatabase(t), createTestDatabase(t)])
  const firstResult = await seed(first, { seed: 7 })
  const secondResult = await seed(second, { seed: 7 })
  await seed(other, { seed: 8 })
  const [a, b, c] = await Promise.all([fingerprint(first), fingerprint(second), fingerprint(other)])
  t.same(b, a, 'users and orders identical, ids and timestamps included')
  t.same(secondResult.grades, firstResult.grades)
  t.not(c.users, a.users, 'another seed, other signup times')
  t.not(c.orders, a.orders, 'another seed, other orders')
})

t.test('exact counts, and the grade split it reports is the one in the rows', async (t) => {
  const url = await createTestDatabase(t)
  const progress: number[] = []
  const result = await seed(url, { onProgress: (done, total) => progress.push(done, total) })
  t.equal(result.users, size.users)
  t.equal(result.orders, size.orders)
  t.ok(result.seconds > 0)

  const pool = openPool(t, url)
  const [[counts]] = await pool.query<RowDataPacket[]>(
    `SELECT (SELECT COUNT(*) FROM users) AS users, (SELECT MIN(id) FROM users) AS firstUser, (SELECT MAX(id) FROM users) AS lastUser,
            (SELECT COUNT(*) FROM orders) AS orders, (SELECT MAX(id) FROM orders) AS lastOrder`,
  )
  t.same(counts, { users: size.users, firstUser: 1, lastUser: size.users, orders: size.orders, lastOrder: size.orders }, 'ids 1..N')

  const fromSql = await gradeSplitFromSql(url)
  t.same(fromSql, result.grades, 'grades computed by SQL from the table')
  const total = size.users
  const share = (grade: keyof typeof result.grades) => (100 * result.grades[grade]) / total
  t.ok(share('VIP') >= 3 && share('VIP') <= 7, `VIP ${share('VIP')}% ≈ 5%`)
  t.ok(share('GOLD') >= 13 && share('GOLD') <= 17, `GOLD ${share('GOLD')}% ≈ 15%`)
  t.ok(share('SILVER') >= 28 && share('SILVER') <= 32, `SILVER ${share('SILVER')}% ≈ 30%`)
  t.ok(share('BRONZE') >= 48 && share('BRONZE') <= 52, `BRONZE ${share('BRONZE')}% ≈ 50%`)

  const [[shape]] = await pool.query<RowDataPacket[]>(
    `SELECT SUM(status = 'CANCELLED') AS cancelled,
            SUM(ordered_at < ? OR ordered_at >= ?) AS outsidePeriod,
            SUM(ordered_at < ? - INTERVAL 1 MONTH OR ordered_at >= ? + INTERVAL 1 MONTH) AS outsideThreeMonths,
            SUM(amount % 100 <> 0 OR amount < 1000) AS oddAmounts,
            COUNT(DISTINCT category) AS categories
     FROM orders`,
    [range.start, range.end, range.start, range.end],
  )
  const percentOfOrders = (count: unknown) => (100 * Number(count)) / size.orders
  t.ok(percentOfOrders(shape?.cancelled) >= 4 && percentOfOrders(shape?.cancelled) <= 6, `${percentOfOrders(shape?.cancelled)}% CANCELLED`)
  t.ok(
    percentOfOrders(shape?.outsidePeriod) >= 15 && percentOfOrders(shape?.outsidePeriod) <= 20,
    `${percentOfOrders(shape?.outsidePeriod)}% outside the period`,
  )
  t.equal(Number(shape?.outsideThreeMonths), 0, 'only the months either side of the period')
  t.equal(Number(shape?.oddAmounts), 0, 'KRW amounts in hundreds, at least 1,000')
  t.ok(Number(shape?.categories) >= 5, 'a handful of categories')

  const [[usersShape]] = await pool.query<RowDataPacket[]>(
    `SELECT SUM(grade <> 'BRONZE' OR grade_updated_at IS NOT NULL) AS notFresh,
            SUM(name <> CONCAT('user-', LPAD(id, 6, '0'))) AS oddNames,
            SUM(NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id AND o.ordered_at >= ? AND o.ordered_at < ?)) AS idleInPeriod,
            SUM(created_at >= (SELECT MIN(ordered_at) FROM orders)) AS signedUpLate
     FROM users u`,
    [range.start, range.end],
  )
  t.equal(Number(usersShape?.notFresh), 0, 'everyone starts BRONZE, never graded')
  t.equal(Number(usersShape?.oddNames), 0, 'user-000123')
  t.ok(Number(usersShape?.idleInPeriod) > 0, `${usersShape?.idleInPeriod} users without an order in the period`)
  t.equal(Number(usersShape?.signedUpLate), 0, 'users signed up before their first order')

  t.equal(progress.at(-2), size.orders, 'progress ends at the total')
  t.ok(
    progress.every((value, i) => i % 2 === 1 || i < 2 || value > progress[i - 2]!),
    'progress only grows',
  )
})

t.test('reset empties the tables the generator owns, and only those', async (t) => {
  const url = await createTestDatabase(t)
  await seed(url)
  const pool = openPool(t, url)
  const statements = [
    `INSERT INTO order_requests (user_id, idempotency_key, order_id) VALUES (1, 'k1', 1)`,
    `INSERT INTO grade_history (user_id, period, from_grade, to_grade, total, order_count) VALUES (1, '2026-10', 'BRONZE', 'VIP', 1000000, 3)`,
    `INSERT INTO coupons (id, user_id, kind, period, slot, amount, issued_at, expires_at) VALUES (UNHEX(REPEAT('11', 16)), 1, 'GRADE', '2026-10', 1, 10000, NOW(6), NOW(6))`,
    `INSERT INTO coupon_redemptions (id, coupon_id, user_id, idempotency_key) VALUES (UNHEX(REPEAT('22', 16)), UNHEX(REPEAT('11', 16)), 1, 'k1')`,
    `INSERT INTO batch_runs (job, period, strategy) VALUES ('monthly-grade', '2026-10', 'fixed')`,
    `INSERT INTO batch_targets (run_id, user_id, chunk_no, total, order_count, to_grade) VALUES (1, 1, 0, 1000000, 3, 'VIP')`,
    `INSERT INTO step_execution_log (run_id, step, chunk_no) VALUES (1, 'grade', 0)`,
    `INSERT INTO was_instances (id, service, host, pid, started_at, last_heartbeat) VALUES (UNHEX(REPEAT('33', 16)), 'test', 'h', 1, NOW(6), NOW(6))`,
    `INSERT INTO events (title, opens_at, closes_at, winner_quota, announce_at) VALUES ('launch', NOW(6), NOW(6), 100, NOW(6))`,
  ]
  for (const statement of statements) await pool.query(statement)

  const smaller = await seed(url, { users: 300, orders: 5_000, seed: 3 })
  t.same([smaller.users, smaller.orders], [300, 5_000])
  const rowCount = async (table: string) => Number((await pool.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${table}`))[0][0]?.n)
  t.equal(await rowCount('users'), 300, 'users replaced, not appended')
  t.equal(await rowCount('orders'), 5_000, 'orders replaced, not appended')
  for (const table of seedOwnedTables.filter((table) => table !== 'users' && table !== 'orders')) {
    t.equal(await rowCount(table), 0, `${table} emptied`)
  }
  t.equal(await rowCount('was_instances'), 1, 'live replicas are not the generator’s')
  t.equal(await rowCount('events'), 1, 'events are not the generator’s')
})

t.test('without reset a non-empty database is refused and left alone', async (t) => {
  const url = await createTestDatabase(t)
  const fresh = await seed(url, { reset: false, users: 50, orders: 500 })
  t.equal(fresh.orders, 500, 'an empty database needs no reset')
  const before = await fingerprint(url)
  await t.rejects(seed(url, { reset: false }), { message: /users is not empty/ })
  t.same(await fingerprint(url), before, 'nothing changed')
})

t.test('tiny sizes still make sense', async (t) => {
  const url = await createTestDatabase(t)
  const noOrders = await seed(url, { users: 5, orders: 0 })
  t.same(noOrders.grades, { VIP: 0, GOLD: 0, SILVER: 0, BRONZE: 5 })
  const one = await seed(url, { users: 1, orders: 1 })
  t.same([one.users, one.orders], [1, 1])
  t.same(await gradeSplitFromSql(url), one.grades)
  const few = await seed(url, { users: 20, orders: 400 })
  t.same(await gradeSplitFromSql(url), few.grades)
  t.ok(few.grades.BRONZE >= 8 && few.grades.BRONZE <= 12, `${few.grades.BRONZE} of 20 BRONZE`)
})

t.test('bad options are refused before anything is touched', async (t) => {
  const url = 'mysql://app:app@127.0.0.1:1/never_reached'
  await t.rejects(seed(url, { users: 0 }), { message: /users must be an integer/ })
  await t.rejects(seed(url, { users: 1.5 }), { message: /users must be an integer/ })
  await t.rejects(seed(url, { orders: -1 }), { message: /orders must be an integer/ })
  await t.rejects(seed(url, { seed: -1 }), { message: /seed must be an integer/ })
  await t.rejects(seed(url, { period: '2026-13' }), { message: /period must be YYYY-MM/ })
})
