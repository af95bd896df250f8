import t, { type Test } from 'tap'
import { v7 as uuidv7 } from 'uuid'
import { applyPendingRedemptions, createPool, uuidToBytes, type Pool, type RowDataPacket } from '../src/index.ts'
import { createTestDatabase } from '../src/testing.ts'

async function database(t: Test): Promise<Pool> {
  const pool = createPool({ url: await createTestDatabase(t), role: 'batch' })
  t.teardown(() => pool.end())
  return pool
}

/** One ISSUED coupon and one PENDING request to redeem it, per user. */
async function pendingRequests(pool: Pool, userIds: number[]): Promise<void> {
  for (const userId of userIds) {
    const couponId = uuidToBytes(uuidv7())
    await pool.query(
      "INSERT INTO coupons (id, user_id, kind, period, slot, amount, status, issued_at, expires_at) VALUES (?, ?, 'GRADE', '2026-09', 1, 3000, 'ISSUED', NOW(6), NOW(6) + INTERVAL 30 DAY)",
      [couponId, userId],
    )
    await pool.query('INSERT INTO coupon_redemptions (id, coupon_id, user_id, idempotency_key) VALUES (?, ?, ?, ?)', [
      uuidToBytes(uuidv7()),
      couponId,
      userId,
      `k-${userId}`,
    ])
  }
}

t.test('two chunks apply the deferred redemptions of their users side by side without waiting on each other', async (t) => {
  const pool = await database(t)
  // Users of the two chunks interleave in the (status, user_id) index, as they do in a real run.
  await pendingRequests(pool, [1, 2, 3, 4, 5, 6])
  const first = await pool.getConnection()
  const second = await pool.getConnection()
  t.teardown(() => {
    first.release()
    second.release()
  })
  await first.beginTransaction()
  t.same(await applyPendingRedemptions(first, [1, 3, 5]), { redeemed: 3, rejected: 0 })
  // The first chunk has not committed: a lock the second needed would time out in 1 s.
  await second.query('SET SESSION innodb_lock_wait_timeout = 1')
  await second.beginTransaction()
  t.same(await applyPendingRedemptions(second, [2, 4, 6]), { redeemed: 3, rejected: 0 }, 'the second chunk does not wait for the first')
  await second.commit()
  await first.commit()
  const [rows] = await pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM coupon_redemptions WHERE status = 'REDEEMED'")
  t.equal(Number(rows[0]?.n), 6)
})

t.test('of two requests for one coupon the earlier wins; the later is rejected with the reason', async (t) => {
  const pool = await database(t)
  await pendingRequests(pool, [7])
  const [[coupon]] = await pool.query<RowDataPacket[]>('SELECT coupon_id FROM coupon_redemptions WHERE user_id = 7')
  await pool.query('INSERT INTO coupon_redemptions (id, coupon_id, user_id, idempotency_key, requested_at) VALUES (?, ?, 7, ?, NOW(6) + INTERVAL 1 SECOND)', [
    uuidToBytes(uuidv7()),
    coupon?.coupon_id,
    'k-7-later',
  ])
  const connection = await pool.getConnection()
  t.teardown(() => connection.release())
  t.same(await applyPendingRedemptions(connection, [7]), { redeemed: 1, rejected: 1 })
  const [rows] = await pool.query<RowDataPacket[]>(
    'SELECT idempotency_key AS k, status, reason FROM coupon_redemptions WHERE user_id = 7 ORDER BY requested_at',
  )
  t.same(
    rows.map((row) => [row.k, row.status, row.reason]),
    [
      ['k-7', 'REDEEMED', null],
      ['k-7-later', 'REJECTED', 'COUPON_ALREADY_REDEEMED'],
    ],
  )
})

t.test('skipLocked (the sweeper): a request whose coupon is locked elsewhere waits for a later pass, the others are applied now', async (t) => {
  const pool = await database(t)
  await pendingRequests(pool, [8, 9])
  const holder = await pool.getConnection()
  const sweeper = await pool.getConnection()
  t.teardown(() => {
    holder.release()
    sweeper.release()
  })
  await holder.beginTransaction()
  await holder.query('SELECT id FROM coupons WHERE user_id = 8 FOR UPDATE')
  // Without skipping, the locked coupon would stop the whole pass with a lock wait timeout.
  await sweeper.query('SET SESSION innodb_lock_wait_timeout = 1')
  await sweeper.beginTransaction()
  t.same(await applyPendingRedemptions(sweeper, [8, 9], { skipLocked: true }), { redeemed: 1, rejected: 0 }, "user 9's request applied, 8's skipped")
  await sweeper.commit()
  await holder.rollback()
  const status = async () =>
    (await pool.query<RowDataPacket[]>('SELECT user_id, status FROM coupon_redemptions ORDER BY user_id'))[0].map((row) => [row.user_id, row.status])
  t.same(
    await status(),
    [
      [8, 'PENDING'],
      [9, 'REDEEMED'],
    ],
    'skipped, not rejected as not found',
  )
  t.same(await applyPendingRedemptions(sweeper, [8], { skipLocked: true }), { redeemed: 1, rejected: 0 }, 'applied once the lock is gone')
  t.same(await status(), [
    [8, 'REDEEMED'],
    [9, 'REDEEMED'],
  ])
})
