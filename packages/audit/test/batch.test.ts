import t, { type Test } from 'tap'
import { createPool, uuidToBytes, type Pool, type RowDataPacket } from '@commerce/db'
import { defaultGradePolicy } from '@commerce/domain'
import { createTestDatabase } from '@commerce/db/testing'
import { v7 as uuidv7 } from 'uuid'
import { auditBatch } from '../src/index.ts'
import { expectedGradesQuery } from '../src/batch.ts'

const period = '2026-10'

/**
 * A hand-written correct outcome of one run: user 1 reached VIP (3 coupons), user 3 SILVER
 * (1 coupon), user 2 stayed BRONZE and is no target. Each test then breaks one invariant.
 * Months are Asia/Seoul's: 2026-10-31 14:59:59 UTC is still October, 15:00:00 is November.
 */
async function correctRun(t: Test): Promise<Pool> {
  const pool = createPool({ url: await createTestDatabase(t), role: 'api' })
  t.teardown(() => pool.end())
  await pool.query("INSERT INTO users (id, name, grade) VALUES (1, 'a', 'VIP'), (2, 'b', 'BRONZE'), (3, 'c', 'SILVER')")
  await pool.query(`INSERT INTO orders (user_id, amount, category, status, ordered_at) VALUES
    (1, 1200000, 'x', 'PAID', '2026-10-05'), (1, 900000, 'x', 'CANCELLED', '2026-10-06'), (2, 900000, 'x', 'PAID', '2026-09-30 14:59:59'),
    (3, 250000, 'x', 'PAID', '2026-10-31 14:59:59'), (3, 900000, 'x', 'PAID', '2026-10-31 15:00:00')`)
  await pool.query(
    `INSERT INTO grade_history (user_id, period, from_grade, to_grade, total, order_count) VALUES
    (1, ?, 'BRONZE', 'VIP', 1200000, 1), (3, ?, 'BRONZE', 'SILVER', 250000, 1)`,
    [period, period],
  )
  const coupon = (user: number, slot: number, amount: number) => [
    uuidToBytes(uuidv7()),
    user,
    'GRADE',
    period,
    slot,
    amount,
    'ISSUED',
    new Date(),
    new Date('2026-11-30T23:59:59Z'),
  ]
  await pool.query('INSERT INTO coupons (id, user_id, kind, period, slot, amount, status, issued_at, expires_at) VALUES ?', [
    [coupon(1, 1, 10000), coupon(1, 2, 10000), coupon(1, 3, 10000), coupon(3, 1, 3000)],
  ])
  await pool.query(
    "INSERT INTO batch_runs (id, job, period, strategy, status, chunk_size, chunk_count, target_count) VALUES (1, 'monthly-grade', ?, 'bulk', 'COMPLETED', 10, 1, 2)",
    [period],
  )
  await pool.query(
    'INSERT INTO batch_targets (run_id, user_id, chunk_no, total, order_count, to_grade) VALUES (1, 1, 0, 1200000, 1, ?), (1, 3, 0, 250000, 1, ?)',
    ['VIP', 'SILVER'],
  )
  await pool.query("INSERT INTO step_execution_log (run_id, step, chunk_no, status, epoch) VALUES (1, 'grade', 0, 'DONE', 1)")
  return pool
}

const audit = (pool: Pool) => auditBatch(pool, { period, policy: defaultGradePolicy })
const failing = async (pool: Pool) => (await audit(pool)).checks.filter((c) => !c.ok).map((c) => c.name)

t.test('a correct run passes every check', async (t) => {
  const result = await audit(await correctRun(t))
  t.same(
    result.checks.filter((c) => !c.ok),
    [],
  )
  t.equal(result.checks.length, 11)
})

t.test("the recomputation reads users in key order: no temporary table, no sort (the auditor's cost stays linear)", async (t) => {
  const pool = await correctRun(t)
  const [plan] = await pool.query<RowDataPacket[]>(
    `EXPLAIN ${expectedGradesQuery('2026-09-30 15:00:00', '2026-10-31 15:00:00', defaultGradePolicy.thresholds)}`,
  )
  const users = plan.find((row) => row.table === 'u')
  t.equal(users?.key, 'PRIMARY', 'users walked by their primary key')
  t.notMatch(String(plan.map((row) => row.Extra).join('; ')), /Using temporary|Using filesort/, 'no temporary table and no sort')
})

const corruptions: [string, string, RegExp][] = [
  ['a non-target graded by mistake', "UPDATE users SET grade = 'GOLD' WHERE id = 2", /^1\. every grade/],
  ['a grade computed from a CANCELLED order', "UPDATE users SET grade = 'GOLD' WHERE id = 3", /^1\. every grade/],
  ['a missing history row', 'DELETE FROM grade_history WHERE user_id = 3', /^1\. grade_history/],
  ['a coupon short', 'DELETE FROM coupons WHERE user_id = 1 AND slot = 3', /^2\. grade coupons/],
  [
    'a coupon too many',
    `INSERT INTO coupons (id, user_id, kind, period, slot, amount, status, issued_at, expires_at) VALUES (UNHEX('0192aaaa0000700080000000000000aa'), 3, 'GRADE', '${period}', 2, 3000, 'ISSUED', NOW(), NOW())`,
    /^2\. grade coupons/,
  ],
  ['a coupon redeemed and revoked', "UPDATE coupons SET status = 'REDEEMED', revoked_at = NOW() WHERE user_id = 3", /^2\. no coupon both/],
  [
    'an old grade coupon left ISSUED',
    "INSERT INTO coupons (id, user_id, kind, period, slot, amount, status, issued_at, expires_at) VALUES (UNHEX('0192aaaa0000700080000000000000bb'), 1, 'GRADE', '2026-09', 1, 3000, 'ISSUED', NOW(), NOW())",
    /^2\. targets hold/,
  ],
  [
    'a deferred redemption left PENDING',
    "INSERT INTO coupon_redemptions (id, coupon_id, user_id, idempotency_key) SELECT UNHEX('0192aaaa0000700080000000000000cc'), id, 1, 'k' FROM coupons WHERE user_id = 1 AND slot = 1",
    /^3\. no redemption left PENDING/,
  ],
  ['a chunk not DONE', "UPDATE step_execution_log SET status = 'CLAIMED'", /^5\. every chunk/],
  ['a run not COMPLETED', "UPDATE batch_runs SET status = 'RUNNING'", /^run COMPLETED/],
]

for (const [what, sql, check] of corruptions) {
  t.test(`the auditor catches ${what}`, async (t) => {
    const pool = await correctRun(t)
    await pool.query(sql)
    const failed = await failing(pool)
    t.ok(
      failed.some((name) => check.test(name)),
      `failed checks: ${failed.join(' | ')}`,
    )
  })
}
