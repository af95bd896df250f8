import type { Test } from 'tap'
import { createMembership, type ChunkOwnership, type Membership } from '@commerce/cluster'
import { createPool, uuidToBytes, type Pool, type RowDataPacket } from '@commerce/db'
import { defaultBusinessTimeZone, defaultGradePolicy } from '@commerce/domain'
import { createTestDatabase } from '@commerce/db/testing'
import { v7 as uuidv7 } from 'uuid'
import { bulkStrategy, type ChunkStrategy } from './job/chunks.ts'
import type { WorkerSettings } from './job/worker.ts'

// Fixtures for tests of batch workers (this package's, and those of the services and benchmarks
// that run a worker in-process): a seeded month, a worker's membership, and a test wrapper that
// pauses a strategy at a chosen point of each chunk.

export const period = '2026-10'

export const settings: WorkerSettings = {
  chunkSize: 10,
  // Several planning statements per run (the tests' 40–100 users), chunks straddling them.
  planSliceUsers: 7,
  concurrency: 2,
  leaseMs: 2_000,
  planLeaseMs: 5_000,
  publishDelayMs: 30,
  pollMs: 20,
  policy: defaultGradePolicy,
  timeZone: defaultBusinessTimeZone,
  // The run protocol's tests work every lane at once; pacing has its own (test/job/pacing.test.ts).
  pacing: {
    enabled: false,
    p99BudgetMs: 100,
    p99Ratio: 0,
    maxThreadsRunning: 0,
    floor: 0.1,
    deadlineMs: 3_600_000,
    decideMs: 20,
    holdMs: 200,
    reportsFreshForMs: 300,
  },
}

/**
 * `users` users whose PAID October total cycles through every grade band, each also with a
 * CANCELLED order and orders just outside the period that must not count. October is
 * Asia/Seoul's: 2026-09-30 15:00 UTC to 2026-10-31 15:00 UTC. Users with
 * `id % 7 === 0` start as VIP (some get downgraded), so targets mix changes and coupon-only.
 */
export async function seedUsers(pool: Pool, users: number): Promise<void> {
  const bands = [0, 150_000, 250_000, 600_000, 1_200_000]
  const userRows = Array.from({ length: users }, (_, i) => [i + 1, `user-${i + 1}`, (i + 1) % 7 === 0 ? 'VIP' : 'BRONZE'])
  await pool.query('INSERT INTO users (id, name, grade) VALUES ?', [userRows])
  const orders: unknown[][] = []
  for (let id = 1; id <= users; id++) {
    const total = bands[id % bands.length] ?? 0
    if (total > 0) {
      orders.push([id, total - 100, 'books', 'PAID', '2026-10-03 10:00:00'])
      orders.push([id, 100, 'music', 'PAID', '2026-10-31 14:59:59'])
    }
    orders.push([id, 5_000_000, 'travel', 'CANCELLED', '2026-10-15 12:00:00'])
    orders.push([id, 3_000_000, 'travel', 'PAID', '2026-10-31 15:00:00'])
    orders.push([id, 3_000_000, 'travel', 'PAID', '2026-09-30 14:59:59'])
  }
  await pool.query('INSERT INTO orders (user_id, amount, category, status, ordered_at) VALUES ?', [orders])
}

/** An ISSUED grade coupon from September for a user (the run must revoke it if the user is a target). */
export async function giveOldCoupon(pool: Pool, userId: number, kind = 'GRADE'): Promise<Buffer> {
  const id = uuidToBytes(uuidv7())
  await pool.query(
    `INSERT INTO coupons (id, user_id, kind, period, slot, amount, status, issued_at, expires_at)
     VALUES (?, ?, ?, '2026-09', 1, 3000, 'ISSUED', '2026-10-01 00:00:00', '2099-12-31 23:59:59')`,
    [id, userId, kind],
  )
  return id
}

export async function requestRedemption(pool: Pool, userId: number, couponId: Buffer, key: string): Promise<Buffer> {
  const id = uuidToBytes(uuidv7())
  await pool.query('INSERT INTO coupon_redemptions (id, coupon_id, user_id, idempotency_key) VALUES (?, ?, ?, ?)', [id, couponId, userId, key])
  return id
}

export async function testDatabase(t: Test, users: number): Promise<{ url: string; pool: Pool }> {
  const url = await createTestDatabase(t)
  const pool = createPool({ url, role: 'batch', connectionLimit: 8 })
  t.teardown(() => pool.end())
  await seedUsers(pool, users)
  return { url, pool }
}

/** A batch worker's membership (its own pool, like a separate process), left on teardown. */
export async function member(t: Test, url: string): Promise<{ pool: Pool; membership: Membership }> {
  const pool = createPool({ url, role: 'batch', connectionLimit: 4 })
  const membership = createMembership({ pool, service: 'batch-worker', heartbeatMs: 100, log: { warn: () => undefined } })
  t.teardown(async () => {
    await membership.stop()
    await pool.end()
  })
  await membership.start()
  return { pool, membership }
}

/** Everything a batch run writes, as comparable text (coupon ids excluded: they are random). */
export async function batchOutcome(pool: Pool): Promise<string> {
  const [users] = await pool.query<RowDataPacket[]>('SELECT id, grade FROM users ORDER BY id')
  const [history] = await pool.query<RowDataPacket[]>(
    'SELECT user_id, period, from_grade, to_grade, total, order_count FROM grade_history ORDER BY user_id, period',
  )
  const [coupons] = await pool.query<RowDataPacket[]>('SELECT user_id, kind, period, slot, amount, status FROM coupons ORDER BY user_id, kind, period, slot')
  return JSON.stringify({ users, history, coupons })
}

/** Where `pausing` stops a chunk: after its claim (before its transaction, no locks held), or inside it right before the fenced commit. */
export interface ChunkPauses {
  afterClaim?: (chunk: ChunkOwnership) => Promise<void>
  beforeCommit?: (chunk: ChunkOwnership) => Promise<void>
  /** After the fenced DONE matched, before COMMIT: the transaction holds its writes, uncommitted. */
  afterFence?: (chunk: ChunkOwnership) => Promise<void>
}

/** `strategy` (default bulk) with pauses: a test holds or stops a worker at a known point of a chunk. */
export function pausing(pauses: ChunkPauses, strategy: ChunkStrategy = bulkStrategy): ChunkStrategy {
  return async (job) => {
    await pauses.afterClaim?.(job.chunk)
    return strategy({
      ...job,
      fence: async (conn, counts) => {
        await pauses.beforeCommit?.(job.chunk)
        const fenced = await job.fence(conn, counts)
        if (fenced) await pauses.afterFence?.(job.chunk)
        return fenced
      },
    })
  }
}
