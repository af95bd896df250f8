import t, { type Test } from 'tap'
import { setTimeout } from 'node:timers/promises'
import { v7 as uuidv7 } from 'uuid'
import { auditBatch } from '@commerce/audit'
import { createMembership } from '@commerce/cluster'
import { createPool, uuidToBytes, type RowDataPacket } from '@commerce/db'
import { defaultGradePolicy } from '@commerce/domain'
import { createTestDatabase } from '@commerce/db/testing'
import { bearer, ignoreBatches, testEnv } from '@commerce/kit/testing'
import type { BatchGuardFactory } from '@commerce/kit'
import { runWorker } from '@commerce/batch-worker/worker'
import { pausing, settings, type ChunkPauses } from '@commerce/batch-worker/testing'
import { buildApp } from '../../src/app.ts'
import { loadServiceConfig } from '../../src/config.ts'

type App = Awaited<ReturnType<typeof buildApp>>

async function setup(t: Test, env: Record<string, string> = {}, createGuard?: BatchGuardFactory) {
  const url = await createTestDatabase(t)
  const app = await buildApp({ config: loadServiceConfig(testEnv(url, { COUPON_SWEEP_MS: '60000', ...env })), logger: false, createGuard })
  t.teardown(() => app.close())
  await app.ready()
  await app.pool.query("INSERT INTO users (id, name) VALUES (1, 'alice'), (2, 'bob')")
  return { app, url }
}

async function coupon(app: App, userId: number, { status = 'ISSUED', period = '2026-09', expires = '2099-12-31 23:59:59', slot = 1 } = {}): Promise<string> {
  const id = uuidv7()
  await app.pool.query(
    "INSERT INTO coupons (id, user_id, kind, period, slot, amount, status, issued_at, expires_at) VALUES (?, ?, 'GRADE', ?, ?, 3000, ?, '2026-10-01', ?)",
    [uuidToBytes(id), userId, period, slot, status, expires],
  )
  return id
}

const redeem = (app: App, couponId: string, userId: number, key: string) =>
  app.inject({ method: 'POST', url: `/coupons/${couponId}/redeem`, headers: { ...bearer(userId), 'idempotency-key': key } })

/** A foreign transaction holding these coupon rows FOR UPDATE, as a batch chunk does; returns its rollback. */
async function lockCoupons(t: Test, url: string, ids: string[]) {
  const holder = createPool({ url, role: 'batch', connectionLimit: 1 })
  t.teardown(() => holder.end())
  const lock = await holder.getConnection()
  t.teardown(() => lock.release())
  await lock.beginTransaction()
  await lock.query('SELECT id FROM coupons WHERE id IN (?) FOR UPDATE', [ids.map(uuidToBytes)])
  return () => lock.rollback()
}

/** Returns once a redemption is on the server, blocked on a coupon row lock (its bulkhead slot taken), not merely sent. */
async function redeemWaitsOnLock(app: App) {
  for (;;) {
    const [rows] = await app.pool.query<RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = DATABASE() AND info LIKE 'UPDATE coupons SET status = ''REDEEMED''%'",
    )
    if (rows[0]?.n === 1) return
  }
}

/**
 * A real batch run of 2026-10 (bulk, one lane) whose first chunk waits at `where` until released:
 * returns once it waits, with the run's outcome and the release.
 */
async function heldBatch(t: Test, url: string, where: keyof ChunkPauses) {
  const batchPool = createPool({ url, role: 'batch' })
  const membership = createMembership({ pool: batchPool, service: 'batch-worker', heartbeatMs: 100, log: { warn: () => undefined } })
  t.teardown(async () => {
    await membership.stop()
    await batchPool.end()
  })
  await membership.start()
  let holding!: () => void
  const held = new Promise<void>((resolve) => (holding = resolve))
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let first = true
  const run = runWorker({
    pool: batchPool,
    membership,
    period: '2026-10',
    strategy: 'bulk',
    settings: { ...settings, chunkSize: 5, concurrency: 1, leaseMs: 10_000, planLeaseMs: 10_000 },
    strategies: {
      bulk: pausing({
        [where]: async () => {
          if (!first) return
          first = false
          holding()
          await released
        },
      }),
    },
  })
  await held
  return { run, release }
}

/** Polls a redemption until it is resolved (bounded by the tap timeout, never by a fixed sleep). */
async function resolved(app: App, location: string, userId: number) {
  for (;;) {
    await app.sweeper.sweep()
    const body = (await app.inject({ url: location, headers: bearer(userId) })).json()
    if (body.status !== 'PENDING') return body
    await app.batchGuard.view.refresh()
  }
}

t.test('direct redemption, idempotent replays, and the 409 reasons', async (t) => {
  const { app } = await setup(t)
  const id = await coupon(app, 1)
  const first = await redeem(app, id, 1, 'k1')
  t.equal(first.statusCode, 200)
  t.equal(first.json().status, 'REDEEMED')
  const replay = await redeem(app, id, 1, 'k1')
  t.same([replay.statusCode, replay.json()], [200, first.json()], 'same key, same answer')
  t.equal((await redeem(app, id, 1, 'k2')).json().code, 'COUPON_ALREADY_REDEEMED')
  t.equal((await redeem(app, await coupon(app, 1, { slot: 2 }), 1, 'k1')).json().code, 'IDEMPOTENCY_KEY_REUSED')
  t.equal((await redeem(app, await coupon(app, 1, { status: 'REVOKED', slot: 3 }), 1, 'k3')).json().code, 'COUPON_REVOKED')
  const expired = await redeem(app, await coupon(app, 1, { expires: '2020-01-01', slot: 4 }), 1, 'k4')
  t.same([expired.statusCode, expired.json().code], [409, 'COUPON_EXPIRED'])
  t.equal((await redeem(app, uuidv7(), 1, 'k5')).json().code, 'COUPON_NOT_FOUND')
  const [[row]] = await app.pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM coupons WHERE status = 'REDEEMED'")
  t.equal(row?.n, 1, 'one effect')
  const listed = (await app.inject({ url: '/users/1/coupons?status=REDEEMED', headers: bearer(1) })).json()
  t.match(listed, { coupons: [{ id, status: 'REDEEMED', kind: 'GRADE', amount: 3000 }], recalculating: false })
})

t.test('Idempotency-Keys compare byte for byte: keys differing in case are different requests', async (t) => {
  const { app } = await setup(t)
  const [a, b] = [await coupon(app, 1), await coupon(app, 1, { slot: 2 })]
  t.match((await redeem(app, a, 1, 'Key-1')).json(), { status: 'REDEEMED' })
  t.match((await redeem(app, b, 1, 'key-1')).json(), { status: 'REDEEMED' }, 'not a reuse of Key-1')
  const again = await redeem(app, a, 1, 'KEY-1')
  t.same([again.statusCode, again.json().code], [409, 'COUPON_ALREADY_REDEEMED'], 'a new request, not a replay of Key-1')
  const [rows] = await app.pool.query<RowDataPacket[]>('SELECT idempotency_key AS k FROM coupon_redemptions ORDER BY k')
  t.same(
    rows.map((row) => row.k),
    ['KEY-1', 'Key-1', 'key-1'],
  )
})

/** One key sent for two coupons at once: one request is recorded, the other is 409, never the first's answer. */
async function reusedAtOnce(t: Test, app: App, userId: number, pairs: number, label: string) {
  for (let i = 0; i < pairs; i++) {
    const [a, b] = [await coupon(app, userId, { slot: 2 * i + 10 }), await coupon(app, userId, { slot: 2 * i + 11 })]
    const key = `${label}-${i}`
    const answers = await Promise.all([redeem(app, a, userId, key), redeem(app, b, userId, key)])
    t.same(
      answers.map((r) => (r.statusCode === 409 ? r.json().code : 'recorded')).sort(),
      ['IDEMPOTENCY_KEY_REUSED', 'recorded'],
      `${label} #${i}: ${answers.map((r) => r.statusCode)}`,
    )
    const [[recorded]] = await app.pool.query<RowDataPacket[]>('SELECT coupon_id FROM coupon_redemptions WHERE user_id = ? AND idempotency_key = ?', [
      userId,
      key,
    ])
    const winner = answers.findIndex((r) => r.statusCode !== 409)
    t.same(recorded?.coupon_id, uuidToBytes([a, b][winner]!), `${label} #${i}: the recorded request is the one answered`)
  }
}

t.test('a key reused for another coupon is 409 IDEMPOTENCY_KEY_REUSED on every path, concurrent requests too', async (t) => {
  t.test('immediate', async (t) => {
    const { app } = await setup(t)
    await reusedAtOnce(t, app, 1, 5, 'now')
  })
  t.test('deferred in batch', async (t) => {
    const { app } = await setup(t)
    await app.pool.query("INSERT INTO batch_runs (id, job, period, strategy, status) VALUES (1, 'monthly-grade', '2026-10', 'bulk', 'RUNNING')")
    await app.pool.query("INSERT INTO batch_targets (run_id, user_id, chunk_no, total, order_count, to_grade) VALUES (1, 1, 0, 1, 1, 'SILVER')")
    await app.pool.query("INSERT INTO step_execution_log (run_id, step, chunk_no) VALUES (1, 'grade', 0)")
    await app.batchGuard.view.refresh()
    const a = await coupon(app, 1)
    t.equal((await redeem(app, a, 1, 'later')).statusCode, 202)
    t.equal((await redeem(app, await coupon(app, 1, { slot: 2 }), 1, 'later')).json().code, 'IDEMPOTENCY_KEY_REUSED', 'a replay for another coupon')
    await reusedAtOnce(t, app, 1, 5, 'batch')
  })
  t.test('deferred by a full bulkhead', async (t) => {
    const { app, url } = await setup(t, { COUPON_REDEEM_CONCURRENCY: '1', DB_LOCK_WAIT_TIMEOUT_S: '30' })
    const locked = await coupon(app, 2)
    const unlock = await lockCoupons(t, url, [locked])
    const waiting = redeem(app, locked, 2, 'waits')
    await redeemWaitsOnLock(app)
    await reusedAtOnce(t, app, 1, 5, 'busy')
    await unlock()
    t.equal((await waiting).statusCode, 200)
  })
  t.test('deferred on a lock wait timeout', async (t) => {
    const { app, url } = await setup(t, { DB_LOCK_WAIT_TIMEOUT_S: '1' }, ignoreBatches)
    const [a, b] = [await coupon(app, 1), await coupon(app, 1, { slot: 2 })]
    const unlock = await lockCoupons(t, url, [a, b])
    const answers = await Promise.all([redeem(app, a, 1, 'timeout'), redeem(app, b, 1, 'timeout')])
    await unlock()
    t.same(answers.map((r) => r.statusCode).sort(), [202, 409], 'both timed out: one recorded, one refused')
    t.equal(answers.find((r) => r.statusCode === 409)?.json().code, 'IDEMPOTENCY_KEY_REUSED')
  })
})

t.test('auth: others cannot list or redeem; admins list but never redeem', async (t) => {
  const { app } = await setup(t)
  const id = await coupon(app, 1)
  t.equal((await app.inject({ url: '/users/1/coupons', headers: bearer(2) })).statusCode, 403)
  t.equal((await app.inject({ url: '/users/1/coupons' })).statusCode, 401)
  t.equal((await app.inject({ url: '/users/1/coupons', headers: { authorization: 'Bearer nope' } })).statusCode, 401)
  t.equal((await app.inject({ url: '/users/1/coupons', headers: bearer(9, 'admin') })).statusCode, 200)
  t.equal((await redeem(app, id, 2, 'k')).statusCode, 403)
  t.equal((await redeem(app, id, 9, 'k')).statusCode, 403)
  const mine = await redeem(app, id, 1, 'k')
  t.equal((await app.inject({ url: `/redemptions/${mine.json().redemptionId}`, headers: bearer(2) })).statusCode, 403)
  t.equal((await app.inject({ url: `/redemptions/${mine.json().redemptionId}`, headers: bearer(9, 'admin') })).statusCode, 200)
})

/** User 1 in the unfinished chunk of a RUNNING run, as this replica's guard view sees it. */
async function userOneInBatch(app: App) {
  await app.pool.query("INSERT INTO batch_runs (id, job, period, strategy, status) VALUES (1, 'monthly-grade', '2026-10', 'bulk', 'RUNNING')")
  await app.pool.query("INSERT INTO batch_targets (run_id, user_id, chunk_no, total, order_count, to_grade) VALUES (1, 1, 0, 1, 1, 'SILVER')")
  await app.pool.query("INSERT INTO step_execution_log (run_id, step, chunk_no) VALUES (1, 'grade', 0)")
  await app.batchGuard.view.refresh()
}

t.test('an in-batch user gets 202 + Location; the request is applied once the chunk is DONE', async (t) => {
  const { app } = await setup(t)
  const id = await coupon(app, 1, { period: '2026-10' })
  await userOneInBatch(app)
  const accepted = await redeem(app, id, 1, 'k')
  t.equal(accepted.statusCode, 202)
  t.equal(accepted.headers.location, `/redemptions/${accepted.json().redemptionId}`)
  t.equal((await redeem(app, id, 1, 'k')).statusCode, 202, 'a replay answers the same')
  t.equal((await app.inject({ url: '/users/1/coupons', headers: bearer(1) })).json().recalculating, true)
  t.equal(await app.sweeper.sweep(), 0, 'not while the chunk runs')
  await app.pool.query("UPDATE step_execution_log SET status = 'DONE'")
  await app.batchGuard.view.refresh()
  t.match(await resolved(app, accepted.headers.location as string, 1), { status: 'REDEEMED', reason: null, resolvedAt: String })
})

t.test('a user’s PENDING requests are bounded: past the cap a fresh key is 429 TOO_MANY_PENDING, a replay keeps its 202', async (t) => {
  const { app } = await setup(t, { COUPON_MAX_PENDING_PER_USER: '3' })
  const id = await coupon(app, 1, { period: '2026-10' })
  await userOneInBatch(app)
  // A client retrying with a fresh Idempotency-Key each time: each would be one more row for the chunk to apply.
  for (const key of ['k1', 'k2', 'k3']) t.equal((await redeem(app, id, 1, key)).statusCode, 202, `${key} recorded`)
  const flooded = await redeem(app, id, 1, 'k4')
  t.same([flooded.statusCode, flooded.json().code], [429, 'TOO_MANY_PENDING'], 'the fourth fresh key is refused, not recorded')
  t.equal((await redeem(app, id, 1, 'k1')).statusCode, 202, 'a replay of a recorded request still answers 202')
  const [[pending]] = await app.pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM coupon_redemptions WHERE status = 'PENDING' AND user_id = 1")
  t.equal(pending?.n, 3, 'three rows for the chunk, however many keys were tried')
  await app.pool.query("UPDATE step_execution_log SET status = 'DONE'")
  await app.batchGuard.view.refresh()
  await app.sweeper.sweep()
  const answer = await redeem(app, id, 1, 'k5')
  t.same(
    [answer.statusCode, answer.json().code],
    [409, 'COUPON_ALREADY_REDEEMED'],
    'once applied, the cap no longer stands in the way: the answer is the coupon’s',
  )
})

t.test('a 202 is judged for expiry at its request’s instant, not when its chunk applies it', async (t) => {
  const { app, url } = await setup(t)
  // Both users are targets of the October run (SILVER), in its one chunk; their October coupons are not the run's to revoke.
  await app.pool.query(
    "INSERT INTO orders (user_id, amount, category, status, ordered_at) VALUES (1, 250000, 'books', 'PAID', '2026-10-10'), (2, 250000, 'books', 'PAID', '2026-10-10')",
  )
  const expiresLater = await coupon(app, 1, { period: '2026-10' })
  const expiredBefore = await coupon(app, 2, { period: '2026-10', expires: '2026-11-01' })
  // The chunk has claimed these users and not begun its transaction: they are in batch.
  const { run, release } = await heldBatch(t, url, 'afterClaim')
  await app.batchGuard.view.refresh()
  const accepted = await redeem(app, expiresLater, 1, 'in-time')
  const late = await redeem(app, expiredBefore, 2, 'too-late')
  t.same([accepted.statusCode, late.statusCode], [202, 202], 'both recorded (in batch)')
  // The first coupon expires a microsecond after its request was recorded (the 202's instant, on the
  // database clock), so before the chunk applies it: no sleeping until a real expiry.
  await app.pool.query(
    'UPDATE coupons c JOIN coupon_redemptions r ON r.coupon_id = c.id SET c.expires_at = r.requested_at + INTERVAL 1 MICROSECOND WHERE c.id = ?',
    [uuidToBytes(expiresLater)],
  )
  const [[now]] = await app.pool.query<RowDataPacket[]>('SELECT expires_at < NOW(6) AS expired FROM coupons WHERE id = ?', [uuidToBytes(expiresLater)])
  t.equal(now?.expired, 1, 'expired by the time the chunk applies the request')
  release()
  t.equal((await run).status, 'COMPLETED')
  // Applied by the chunk's commit (the sweeper is not called).
  const status = async (answer: typeof accepted, userId: number) =>
    (await app.inject({ url: answer.headers.location as string, headers: bearer(userId) })).json()
  t.match(await status(accepted, 1), { status: 'REDEEMED', reason: null }, 'asked while the coupon was valid: redeemed')
  t.match(await status(late, 2), { status: 'REJECTED', reason: 'COUPON_EXPIRED' }, 'asked after it had expired: still refused')
  const [[redeemed]] = await app.pool.query<RowDataPacket[]>('SELECT status FROM coupons WHERE id = ?', [uuidToBytes(expiresLater)])
  t.equal(redeemed?.status, 'REDEEMED')
})

t.test('the sweeper is not starved: 100+ in-batch users first in index order, a later user is still applied', async (t) => {
  const { app } = await setup(t)
  const inBatch = Array.from({ length: 120 }, (_, i) => i + 1)
  const later = 121
  await app.pool.query('INSERT IGNORE INTO users (id, name) VALUES ?', [[...inBatch, later].map((id) => [id, `u${id}`])])
  await app.pool.query("INSERT INTO batch_runs (id, job, period, strategy, status) VALUES (1, 'monthly-grade', '2026-10', 'bulk', 'RUNNING')")
  await app.pool.query('INSERT INTO batch_targets (run_id, user_id, chunk_no, total, order_count, to_grade) VALUES ?', [
    inBatch.map((id) => [1, id, 0, 1, 1, 'SILVER']),
  ])
  await app.pool.query("INSERT INTO step_execution_log (run_id, step, chunk_no) VALUES (1, 'grade', 0)")
  // Deferred requests, recorded as the 202 paths record them: the in-batch users' and, last in the index, the later user's.
  const deferred = new Map<number, string>()
  for (const userId of [...inBatch, later]) {
    const id = uuidv7()
    await app.pool.query('INSERT INTO coupon_redemptions (id, coupon_id, user_id, idempotency_key) VALUES (?, ?, ?, ?)', [
      uuidToBytes(id),
      uuidToBytes(await coupon(app, userId)),
      userId,
      `k-${userId}`,
    ])
    deferred.set(userId, id)
  }
  await app.batchGuard.view.refresh()
  t.equal(await app.sweeper.sweep(), 1, 'one request applied: the later user’s')
  t.match((await app.inject({ url: `/redemptions/${deferred.get(later)}`, headers: bearer(later) })).json(), { status: 'REDEEMED' })
  const [[pending]] = await app.pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM coupon_redemptions WHERE status = 'PENDING'")
  t.equal(pending?.n, inBatch.length, 'the in-batch users’ requests wait for their chunk')
})

t.test('a guard view older than BATCH_GUARD_MAX_AGE_MS is not trusted: redemptions are deferred until it refreshes', async (t) => {
  const { app } = await setup(t, { BATCH_GUARD_REFRESH_MS: '10', BATCH_GUARD_MAX_AGE_MS: '40' })
  const [first, second] = [await coupon(app, 1), await coupon(app, 1, { slot: 2 })]
  const until = async (done: () => boolean) => {
    while (!done()) await setTimeout(5)
  }
  // Every refresh now fails, and the view keeps its last state ("nobody in batch") as it ages.
  await app.pool.query('RENAME TABLE batch_runs TO batch_runs_away')
  await until(() => app.batchGuard.view.ageMs() > 40)
  const deferred = await redeem(app, first, 1, 'stale')
  t.equal(deferred.statusCode, 202, 'an old view says nothing about the batch now')
  await app.pool.query('RENAME TABLE batch_runs_away TO batch_runs')
  await until(() => app.batchGuard.view.ageMs() <= 40)
  t.equal((await redeem(app, second, 1, 'fresh')).statusCode, 200, 'a fresh view is trusted again')
  t.match(await resolved(app, deferred.headers.location as string, 1), { status: 'REDEEMED' })
})

t.test('the sweeper decides from the batch tables, not from its replica\'s view: a stale "not in batch" applies nothing', async (t) => {
  const { app } = await setup(t)
  const id = await coupon(app, 1)
  // The view loaded while no run was RUNNING, then stopped refreshing.
  await app.batchGuard.view.stop()
  await app.pool.query("INSERT INTO batch_runs (id, job, period, strategy, status) VALUES (1, 'monthly-grade', '2026-10', 'bulk', 'RUNNING')")
  await app.pool.query("INSERT INTO batch_targets (run_id, user_id, chunk_no, total, order_count, to_grade) VALUES (1, 1, 0, 1, 1, 'SILVER')")
  await app.pool.query("INSERT INTO step_execution_log (run_id, step, chunk_no, status) VALUES (1, 'grade', 0, 'CLAIMED')")
  await app.pool.query('INSERT INTO coupon_redemptions (id, coupon_id, user_id, idempotency_key) VALUES (?, ?, 1, ?)', [
    uuidToBytes(uuidv7()),
    uuidToBytes(id),
    'deferred',
  ])
  t.equal(app.batchGuard.view.inBatch(1), null, 'the view is stale')
  t.equal(await app.sweeper.sweep(), 0, 'nothing applied while the chunk is CLAIMED')
  const [[row]] = await app.pool.query<RowDataPacket[]>('SELECT status FROM coupons')
  t.equal(row?.status, 'ISSUED', 'left for the chunk, which may revoke it')
  await app.pool.query("UPDATE step_execution_log SET status = 'DONE'")
  t.equal(await app.sweeper.sweep(), 1, 'applied once the chunk is DONE')
})

t.test('the sweeper checks again in its apply transaction: a run published between its choice of users and its apply is not missed', async (t) => {
  const { app } = await setup(t)
  const id = await coupon(app, 1)
  await app.pool.query('INSERT INTO coupon_redemptions (id, coupon_id, user_id, idempotency_key) VALUES (?, ?, 1, ?)', [
    uuidToBytes(uuidv7()),
    uuidToBytes(id),
    'deferred',
  ])
  // The racer, held at a known point: the run is published (and its chunk claimed) right after
  // the sweeper chose its users, while no run was RUNNING, and before it applies anything.
  const { pendingUsers } = app.coupons
  t.teardown(() => {
    app.coupons.pendingUsers = pendingUsers
  })
  app.coupons.pendingUsers = async (...args) => {
    const chosen = await pendingUsers(...args)
    await app.pool.query("INSERT INTO batch_runs (id, job, period, strategy, status) VALUES (1, 'monthly-grade', '2026-10', 'bulk', 'RUNNING')")
    await app.pool.query("INSERT INTO batch_targets (run_id, user_id, chunk_no, total, order_count, to_grade) VALUES (1, 1, 0, 1, 1, 'SILVER')")
    await app.pool.query("INSERT INTO step_execution_log (run_id, step, chunk_no, status) VALUES (1, 'grade', 0, 'CLAIMED')")
    app.coupons.pendingUsers = pendingUsers
    return chosen
  }
  t.equal(await app.sweeper.sweep(), 0, 'nothing applied: the user is in a chunk being rewritten now')
  const [[row]] = await app.pool.query<RowDataPacket[]>(
    'SELECT c.status AS coupon, r.status AS request FROM coupons c JOIN coupon_redemptions r ON r.coupon_id = c.id',
  )
  t.same(row, { coupon: 'ISSUED', request: 'PENDING' }, 'left for the chunk, which may revoke the coupon')
  await app.pool.query("UPDATE step_execution_log SET status = 'DONE'")
  t.equal(await app.sweeper.sweep(), 1, 'applied once the chunk is DONE')
})

t.test(
  'the sweeper never applies a user a chunk transaction is writing: it takes the users row lock the chunk takes, skipping (not waiting on) a held one',
  async (t) => {
    const { app, url } = await setup(t)
    for (const userId of [1, 2]) {
      await app.pool.query('INSERT INTO coupon_redemptions (id, coupon_id, user_id, idempotency_key) VALUES (?, ?, ?, ?)', [
        uuidToBytes(uuidv7()),
        uuidToBytes(await coupon(app, userId)),
        userId,
        `k-${userId}`,
      ])
    }
    // A chunk's transaction has graded user 1 (UPDATE users, as every strategy does before it
    // revokes) and not committed; the run tables are left empty so only the lock can stop the sweeper.
    const batch = createPool({ url, role: 'batch', connectionLimit: 1 })
    t.teardown(() => batch.end())
    const chunk = await batch.getConnection()
    t.teardown(() => chunk.release())
    await chunk.beginTransaction()
    await chunk.query("UPDATE users SET grade = 'SILVER', grade_updated_at = NOW(6) WHERE id = 1")
    t.equal(await app.sweeper.sweep(), 1, 'user 2 applied; user 1 skipped at once (a wait would end in a lock wait timeout)')
    const statuses = async () =>
      (await app.pool.query<RowDataPacket[]>('SELECT user_id, status FROM coupon_redemptions ORDER BY user_id'))[0].map((r) => [r.user_id, r.status])
    t.same(await statuses(), [
      [1, 'PENDING'],
      [2, 'REDEEMED'],
    ])
    await chunk.commit()
    t.equal(await app.sweeper.sweep(), 1, 'user 1 applied once the chunk committed')
    t.same(await statuses(), [
      [1, 'REDEEMED'],
      [2, 'REDEEMED'],
    ])
  },
)

t.test('a stale view meets the batch row lock: the request is deferred, never redeemed on a revoked coupon', async (t) => {
  const { app, url } = await setup(t, { DB_LOCK_WAIT_TIMEOUT_S: '1' }, ignoreBatches)
  const id = await coupon(app, 1)
  const batch = createPool({ url, role: 'batch' })
  t.teardown(() => batch.end())
  const chunk = await batch.getConnection()
  t.teardown(() => chunk.release())
  await chunk.beginTransaction()
  await chunk.query("UPDATE coupons SET status = 'REVOKED', revoked_at = NOW(6) WHERE id = ?", [uuidToBytes(id)])
  const answered = await redeem(app, id, 1, 'k')
  t.equal(answered.statusCode, 202, 'lock wait timeout ⇒ deferred, not 5xx')
  await chunk.commit()
  t.match(await resolved(app, answered.headers.location as string, 1), { status: 'REJECTED', reason: 'COUPON_REVOKED' })
  const [[row]] = await app.pool.query<RowDataPacket[]>('SELECT status FROM coupons')
  t.equal(row?.status, 'REVOKED')
})

t.test('bulkhead: redemptions waiting on a row lock never hold more than their share of the pool', async (t) => {
  const { app, url } = await setup(t, { COUPON_REDEEM_CONCURRENCY: '1', DB_LOCK_WAIT_TIMEOUT_S: '30' })
  const [locked, free] = [await coupon(app, 1), await coupon(app, 2)]
  const unlock = await lockCoupons(t, url, [locked])
  const waiting = redeem(app, locked, 1, 'waits')
  await redeemWaitsOnLock(app)
  const second = await redeem(app, free, 2, 'busy')
  t.equal(second.statusCode, 202, 'the slot is taken: recorded and deferred at once, no second lock wait')
  t.equal((await app.inject({ url: '/users/2/coupons', headers: bearer(2) })).statusCode, 200, 'other routes still get a connection')
  await unlock()
  t.match((await waiting).json(), { status: 'REDEEMED' }, 'the waiter redeems once the lock is gone')
  t.match(await resolved(app, second.headers.location as string, 2), { status: 'REDEEMED' }, 'the deferred one is applied by the sweeper')
  t.equal((await redeem(app, await coupon(app, 2, { slot: 2 }), 2, 'free')).statusCode, 200, 'the slot is released after the wait')
})
t.test('consistency during a real batch: parallel redemptions of in-batch users end REDEEMED xor REVOKED', async (t) => {
  const { app, url } = await setup(t)
  const users = 60
  await app.pool.query('DELETE FROM users')
  await app.pool.query('INSERT INTO users (id, name) VALUES ?', [Array.from({ length: users }, (_, i) => [i + 1, `u${i + 1}`])])
  // Every other user reaches SILVER in October (a target); everybody holds a September grade coupon.
  await app.pool.query('INSERT INTO orders (user_id, amount, category, status, ordered_at) VALUES ?', [
    Array.from({ length: users / 2 }, (_, i) => [2 * i + 1, 250_000, 'books', 'PAID', '2026-10-10 00:00:00']),
  ])
  const coupons = new Map<number, string>()
  for (let userId = 1; userId <= users; userId++) coupons.set(userId, await coupon(app, userId))

  // The first chunk waits, inside its transaction, right before its commit.
  const { run, release } = await heldBatch(t, url, 'beforeCommit')
  await app.batchGuard.view.refresh()

  // Three requests per user, two of them sharing a key: 180 requests at once.
  const requests = [...coupons].flatMap(([userId, id]) => [
    redeem(app, id, userId, `a-${userId}`),
    redeem(app, id, userId, `a-${userId}`),
    redeem(app, id, userId, `b-${userId}`),
  ])
  const answers = await Promise.all(requests)
  t.same(
    answers.filter((a) => a.statusCode >= 500).map((a) => a.body),
    [],
    'no 5xx',
  )
  const accepted = answers.filter((a) => a.statusCode === 202)
  t.ok(accepted.length > 0, `${accepted.length} deferred`)
  release()
  const report = await run
  t.equal(report.status, 'COMPLETED')
  await app.batchGuard.view.refresh()
  const owners = new Map(answers.map((a, i) => [a, Math.floor(i / 3) + 1]))
  const resolvedAs = (answer: (typeof answers)[number]) => resolved(app, answer.headers.location as string, owners.get(answer)!)
  for (const answer of accepted) t.not((await resolvedAs(answer)).status, 'PENDING')

  const [couponRows] = await app.pool.query<RowDataPacket[]>("SELECT status, revoked_at FROM coupons WHERE period = '2026-09'")
  t.ok(
    couponRows.every((c) => (c.status === 'REDEEMED') !== (c.revoked_at !== null) || c.status === 'ISSUED'),
    'REDEEMED xor REVOKED',
  )
  const [[pending]] = await app.pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM coupon_redemptions WHERE status = 'PENDING'")
  t.equal(pending?.n, 0, 'every 202 resolved')
  const [perKey] = await app.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM coupon_redemptions GROUP BY user_id, idempotency_key HAVING n > 1')
  t.equal(perKey.length, 0, 'one record per key')
  const audit = await auditBatch(app.pool, { period: '2026-10', policy: defaultGradePolicy })
  t.same(
    audit.checks.filter((c) => !c.ok),
    [],
    'auditor passes',
  )
})

t.test('bad input is a 4xx with a code, never a 5xx', async (t) => {
  const { app } = await setup(t)
  const id = await coupon(app, 1)
  const cases: [string, string, Record<string, string>, string | undefined, number][] = [
    ['GET', '/users/0/coupons', bearer(1), undefined, 400],
    ['GET', '/users/abc/coupons', bearer(1), undefined, 400],
    ['GET', '/users/99999999999999999999/coupons', bearer(1), undefined, 400],
    ['GET', '/users/1/coupons?status=LOST', bearer(1), undefined, 400],
    ['GET', "/users/1/coupons?status=ISSUED'%20OR%201=1", bearer(1), undefined, 400],
    ['POST', `/coupons/${id}/redeem`, bearer(1), undefined, 400],
    ['POST', `/coupons/${id}/redeem`, { ...bearer(1), 'idempotency-key': '' }, undefined, 400],
    ['POST', `/coupons/${id}/redeem`, { ...bearer(1), 'idempotency-key': 'x'.repeat(65) }, undefined, 400],
    ['POST', `/coupons/${id}/redeem`, { ...bearer(1), 'idempotency-key': "k' OR 1=1 --" }, undefined, 400],
    ['POST', '/coupons/not-a-uuid/redeem', { ...bearer(1), 'idempotency-key': 'k' }, undefined, 400],
    ['POST', "/coupons/1'%20OR%20'1'='1/redeem", { ...bearer(1), 'idempotency-key': 'k' }, undefined, 400],
    ['POST', `/coupons/${uuidv7()}/redeem`, { ...bearer(1), 'idempotency-key': 'k' }, undefined, 404],
    ['POST', `/coupons/${id}/redeem`, { ...bearer(1), 'idempotency-key': 'k', 'content-type': 'application/json' }, '{"x":', 400],
    ['POST', `/coupons/${id}/redeem`, { ...bearer(1), 'idempotency-key': 'k', 'content-type': 'application/json' }, `{"pad":"${'x'.repeat(20_000)}"}`, 413],
    ['POST', `/coupons/${id}/redeem`, { ...bearer(1), 'idempotency-key': 'k', 'content-type': 'text/csv' }, 'a,b', 415],
    ['GET', '/redemptions/nope', bearer(1), undefined, 400],
    ['GET', `/redemptions/${uuidv7()}`, bearer(1), undefined, 404],
  ]
  for (const [method, url, headers, payload, status] of cases) {
    const response = await app.inject({ method: method as 'GET' | 'POST', url, headers, payload })
    t.equal(response.statusCode, status, `${method} ${url.slice(0, 60)} ${JSON.stringify(headers['idempotency-key'] ?? '')}`)
    t.type(response.json().code, 'string')
  }
})

t.test('the OpenAPI document lists every route', async (t) => {
  const { app } = await setup(t)
  const doc = (await app.inject('/openapi.json')).json()
  t.same(Object.keys(doc.paths).sort(), ['/coupons/{id}/redeem', '/health', '/metrics', '/ready', '/redemptions/{id}', '/users/{id}/coupons'])
})
