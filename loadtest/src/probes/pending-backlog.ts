import { parseArgs } from 'node:util'
import { format } from 'mysql2'
import { v7 as uuidv7 } from 'uuid'
import { createPool, uuidToBytes, type Pool, type PoolConnection, type RowDataPacket } from '@commerce/db'
import { createTestDatabase } from '@commerce/db/testing'
import { bulkStrategy, type ChunkStrategy } from '@commerce/batch-worker/chunks'
import { runWorker } from '@commerce/batch-worker/worker'
import { period, seedUsers, settings } from '@commerce/batch-worker/testing'
import { createMembership } from '@commerce/cluster'

// `node --import tsx loadtest/src/probes/pending-backlog.ts [--pending 10000] [--users 1000] [--repetitions 3]`
// What a flood of deferred redemptions does to the chunk that applies them: one user of a chunk
// (the default BATCH_CHUNK_SIZE, 1,000 users) holds `pending` PENDING requests with fresh keys for
// one coupon, as a client retrying with a new Idempotency-Key each time leaves them; the real bulk
// chunk applies them in its transaction (one REDEEMED, the rest REJECTED through the CASE). Each
// repetition runs on its own throwaway database, once with the flood and once without. Prints
// JSON: the chunk's transaction time and its slowest statements (time and size in bytes).

const { values } = parseArgs({
  options: { pending: { type: 'string', default: '10000' }, users: { type: 'string', default: '1000' }, repetitions: { type: 'string', default: '3' } },
})
const pending = Number(values.pending)
const users = Number(values.users)
const repetitions = Number(values.repetitions)

interface Statement {
  sql: string
  ms: number
  bytes: number
}

/** `pool` whose connections time every statement (and its size as sent) into `log`. */
function timedPool(pool: Pool, log: Statement[]): Pool {
  const timedConnection = (conn: PoolConnection) =>
    new Proxy(conn, {
      get(target, property) {
        if (property === 'query') {
          return async (sql: string, params?: Parameters<PoolConnection['query']>[1]) => {
            const bytes = Buffer.byteLength(format(sql, params as Parameters<typeof format>[1]))
            const started = performance.now()
            try {
              return await target.query(sql, params)
            } finally {
              log.push({ sql: sql.replace(/\s+/g, ' ').slice(0, 70), ms: performance.now() - started, bytes })
            }
          }
        }
        const value = Reflect.get(target, property, target)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
  return new Proxy(pool, {
    get(target, property) {
      if (property === 'getConnection') return async () => timedConnection(await target.getConnection())
      const value = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

async function oneChunk(flood: number) {
  const teardowns: (() => unknown)[] = []
  const t = { teardown: (fn: () => unknown) => teardowns.push(fn) }
  try {
    const url = await createTestDatabase(t)
    const pool = createPool({ url, role: 'batch', connectionLimit: 8 })
    teardowns.push(() => pool.end())
    await seedUsers(pool, users)
    // User 3 is a target (BRONZE → a higher grade); its coupon of the run's own period is not one the run revokes.
    const couponId = uuidToBytes(uuidv7())
    await pool.query(
      `INSERT INTO coupons (id, user_id, kind, period, slot, amount, status, issued_at, expires_at) VALUES (?, 3, 'GRADE', ?, 9, 3000, 'ISSUED', '2026-10-01', '2099-12-31')`,
      [couponId, period],
    )
    for (let from = 0; from < flood; from += 1000) {
      const rows = Array.from({ length: Math.min(1000, flood - from) }, (_, i) => [uuidToBytes(uuidv7()), couponId, 3, `flood-${from + i}`])
      await pool.query('INSERT INTO coupon_redemptions (id, coupon_id, user_id, idempotency_key) VALUES ?', [rows])
    }
    const membership = createMembership({ pool, service: 'batch-worker', heartbeatMs: 100, log: { warn: () => undefined } })
    teardowns.push(() => membership.stop())
    await membership.start()
    const log: Statement[] = []
    let chunkMs = 0
    const timed: ChunkStrategy = async (job) => {
      const started = performance.now()
      try {
        return await bulkStrategy({ ...job, pool: timedPool(job.pool, log) })
      } finally {
        chunkMs = performance.now() - started
      }
    }
    const report = await runWorker({
      pool,
      membership,
      period,
      strategy: 'bulk',
      strategies: { bulk: timed },
      settings: { ...settings, chunkSize: users, planSliceUsers: users, concurrency: 1, leaseMs: 120_000, planLeaseMs: 120_000 },
    })
    if (report.status !== 'COMPLETED') throw new Error(`run ${report.status}`)
    const [[left]] = await pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM coupon_redemptions WHERE status = 'PENDING'")
    if (left?.n !== 0) throw new Error(`${left?.n} requests left PENDING`)
    const slowest = [...log].sort((a, b) => b.ms - a.ms).slice(0, 4)
    return { chunkMs: Math.round(chunkMs), slowest: slowest.map((s) => ({ ...s, ms: Math.round(s.ms * 10) / 10 })) }
  } finally {
    for (const teardown of teardowns.reverse()) await teardown()
  }
}

const admin = createPool({ url: (await import('@commerce/db')).databaseUrl(), role: 'batch', connectionLimit: 1 })
const [[server]] = await admin.query<RowDataPacket[]>('SELECT VERSION() AS version, @@max_allowed_packet AS maxAllowedPacket')
await admin.end()
const results: Record<string, unknown[]> = { none: [], flood: [] }
for (let i = 0; i < repetitions; i++) {
  results.none?.push(await oneChunk(0))
  results.flood?.push(await oneChunk(pending))
}
console.log(JSON.stringify({ pending, users, server, results }, null, 1))
