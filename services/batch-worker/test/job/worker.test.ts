import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { auditBatch, formatAudit } from '@commerce/audit'
import {
  createMembership,
  encodeLatencyCounts,
  loadTargetSet,
  latencyBucketCount,
  latencyBucketOf,
  readReportedLoad,
  type LoadSummary,
} from '@commerce/cluster'
import { createPool, uuidFromBytes, type Pool, type RowDataPacket } from '@commerce/db'
import { createChunkEventRepository } from '../../src/job/chunk-events.ts'
import { readRunStatus, type RunStatusView } from '../../src/job/progress.ts'
import { runWorker, type WorkerReport } from '../../src/job/worker.ts'
import {
  batchOutcome as outcome,
  giveOldCoupon,
  member,
  pausing,
  period,
  requestRedemption,
  settings,
  testDatabase,
  type ChunkPauses,
} from '../../src/testing.ts'

async function audit(t: Test, pool: Pool): Promise<void> {
  const result = await auditBatch(pool, { period, policy: settings.policy })
  t.same(
    result.checks.filter((check) => !check.ok),
    [],
    'auditor passes',
  )
  t.equal(result.ok, true, `${formatAudit(result).split('\n').length} checks`)
}

type WorkerExtras = Partial<Parameters<typeof runWorker>[0]> & { pauses?: ChunkPauses }

/** A worker of its own membership; `pauses` stop its bulk chunks at known points. */
async function worker(t: Test, url: string, { pauses, ...extra }: WorkerExtras = {}): Promise<WorkerReport> {
  const { pool, membership } = await member(t, url)
  return runWorker({ pool, membership, period, strategy: 'bulk', settings, ...(pauses ? { strategies: { bulk: pausing(pauses) } } : {}), ...extra })
}

t.test('one worker grades, revokes, issues and applies deferred redemptions; a re-run changes nothing', async (t) => {
  const { url, pool } = await testDatabase(t, 120)
  const revokedCoupon = await giveOldCoupon(pool, 4) // 4 is a VIP target: its September coupon goes
  const otherCoupon = await giveOldCoupon(pool, 4, 'WELCOME') // not a grade coupon: stays redeemable
  const rejected = await requestRedemption(pool, 4, revokedCoupon, 'k1')
  const redeemed = await requestRedemption(pool, 4, otherCoupon, 'k2')
  const late = await requestRedemption(pool, 4, otherCoupon, 'k3')

  const report = await worker(t, url)
  t.match(report, { status: 'COMPLETED', planned: true, chunksDone: report.chunksDone, fencingRejections: 0 })
  const [[run]] = await pool.query<RowDataPacket[]>('SELECT * FROM batch_runs')
  t.equal(report.targets, run?.target_count)
  t.equal(run?.chunk_count, Math.ceil(Number(run?.target_count) / settings.chunkSize))
  // Planned in statements of planSliceUsers users: the chunks are still those of one statement,
  // full chunks of consecutive targets in user order, the last one holding the rest.
  const [chunks] = await pool.query<RowDataPacket[]>(
    'SELECT chunk_no, COUNT(*) AS targets, MIN(user_id) AS lo, MAX(user_id) AS hi FROM batch_targets GROUP BY chunk_no ORDER BY chunk_no',
  )
  t.ok(Number(run?.target_count) > settings.planSliceUsers, 'more targets than one planning statement covers')
  t.same(
    chunks.map((chunk) => [Number(chunk.chunk_no), Number(chunk.targets)]),
    Array.from({ length: Number(run?.chunk_count) }, (_, no) => [no, Math.min(settings.chunkSize, Number(run?.target_count) - no * settings.chunkSize)]),
  )
  t.ok(
    chunks.every((chunk, i) => i === 0 || Number(chunk.lo) > Number(chunks[i - 1]?.hi)),
    'chunks follow user order',
  )
  t.equal(run?.coupons_issued, report.couponsIssued)
  t.equal(run?.coupons_revoked, 1)
  t.equal(run?.redemptions_applied, 3)

  const [requests] = await pool.query<RowDataPacket[]>('SELECT id, status, reason FROM coupon_redemptions')
  const byId = new Map(requests.map((r) => [uuidFromBytes(r.id as Buffer), r]))
  t.match(byId.get(uuidFromBytes(rejected)), { status: 'REJECTED', reason: 'COUPON_REVOKED' })
  t.match(byId.get(uuidFromBytes(redeemed)), { status: 'REDEEMED', reason: null })
  t.match(byId.get(uuidFromBytes(late)), { status: 'REJECTED', reason: 'COUPON_ALREADY_REDEEMED' })
  const [[vip]] = await pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM coupons WHERE user_id = 4 AND period = ? AND status = 'ISSUED'", [period])
  t.equal(vip?.n, 3, 'a VIP gets 3 coupons')
  const [[untouched]] = await pool.query<RowDataPacket[]>('SELECT grade, grade_updated_at FROM users WHERE id = 1')
  t.same(untouched, { grade: 'BRONZE', grade_updated_at: null }, 'a non-target is never touched')
  await audit(t, pool)

  const before = await outcome(pool)
  const again = await worker(t, url)
  t.match(again, { status: 'COMPLETED', chunksDone: 0, targets: 0, couponsIssued: 0 })
  t.equal(await outcome(pool), before, 'a second run of the period changes nothing')
})

t.test('two workers share one run exactly once', async (t) => {
  const { url, pool } = await testDatabase(t, 200)
  const reports = await Promise.all([worker(t, url), worker(t, url)])
  t.ok(reports.every((r) => r.status === 'COMPLETED'))
  t.equal(reports.filter((r) => r.planned).length, 1, 'exactly one planner')
  const [[run]] = await pool.query<RowDataPacket[]>('SELECT chunk_count FROM batch_runs')
  t.equal(reports[0]!.chunksDone + reports[1]!.chunksDone, run?.chunk_count, 'every chunk committed once')
  const events = await createChunkEventRepository(pool).list(reports[0]!.runId, 1_000)
  t.same(
    events.map((event) => event.chunkNo).sort((a, b) => a - b),
    Array.from({ length: run?.chunk_count }, (_, chunkNo) => chunkNo),
    'the console’s history has one claim per chunk',
  )
  t.ok(
    events.every((event) => (event.kind === 'CLAIM' || event.kind === 'STEAL') && event.epoch === 1),
    'claims and steals only: no lease was taken over',
  )
  t.equal(events.filter((event) => event.kind === 'STEAL').length, reports[0]!.chunksStolen + reports[1]!.chunksStolen, 'steals as the workers counted them')
  const [rows] = await pool.query<RowDataPacket[]>('SELECT user_id, chunk_no FROM batch_targets WHERE run_id = ? ORDER BY user_id', [reports[0]!.runId])
  const [[size]] = await pool.query<RowDataPacket[]>('SELECT chunk_size FROM batch_runs')
  const [[parts]] = await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM batch_target_sets WHERE run_id = ?', [reports[0]!.runId])
  t.equal(Number(parts?.n), 1, 'one stored part (a small run)')
  const set = await loadTargetSet(pool, reports[0]!.runId)
  t.equal(set.size, rows.length, 'the planner stored the compact target set of every target')
  t.ok(
    rows.every((row) => Math.floor(set.rankOf(Number(row.user_id)) / Number(size?.chunk_size)) === Number(row.chunk_no)),
    'whose ranks give every target’s planned chunk',
  )
  await audit(t, pool)
})

t.test('a worker that joins mid-run takes a share', async (t) => {
  const { url, pool } = await testDatabase(t, 200)
  // The first two workers hold their first chunks open until the newcomer has committed one.
  let newcomerCommitted!: () => void
  const newcomerDone = new Promise<void>((resolve) => (newcomerCommitted = resolve))
  const held = new Set<string>()
  let holding = 0
  let allHolding!: () => void
  const bothHolding = new Promise<void>((resolve) => (allHolding = resolve))
  const hold = async (chunk: { owner: string }) => {
    if (held.has(chunk.owner)) return
    held.add(chunk.owner)
    if (++holding === 2) allHolding()
    await newcomerDone
  }
  const holder = () => worker(t, url, { pauses: { beforeCommit: hold }, settings: { ...settings, concurrency: 1 } })
  const early = [holder(), holder()]
  await bothHolding
  const newcomer = await worker(t, url, {
    pauses: {
      beforeCommit: async () => {
        newcomerCommitted()
      },
    },
  })
  const reports = [...(await Promise.all(early)), newcomer]
  t.ok(newcomer.chunksDone >= 1, `the newcomer committed ${newcomer.chunksDone} chunks`)
  const [[run]] = await pool.query<RowDataPacket[]>('SELECT chunk_count, status FROM batch_runs')
  t.equal(
    reports.reduce((sum, r) => sum + r.chunksDone, 0),
    run?.chunk_count,
  )
  await audit(t, pool)
})

t.test('a worker paused past its lease cannot commit (fencing)', async (t) => {
  const { url, pool } = await testDatabase(t, 100)
  const { pool: observer } = await member(t, url)
  let rescuer: Promise<WorkerReport> | undefined
  const sleeper = await worker(t, url, {
    settings: { ...settings, concurrency: 1 },
    pauses: {
      afterClaim: async (chunk) => {
        if (rescuer) return
        // "Pause" past the lease right after claiming: expire it, let another worker take the
        // chunk over and finish the whole run, then wake up and process the chunk anyway.
        await observer.query('UPDATE step_execution_log SET lease_until = NOW(6) - INTERVAL 1 SECOND WHERE run_id = ? AND chunk_no = ?', [
          chunk.runId,
          chunk.chunkNo,
        ])
        rescuer = worker(t, url)
        await rescuer
      },
    },
  })
  const rescued = await rescuer!
  t.equal(sleeper.fencingRejections, 1, 'the late commit was refused')
  t.equal(rescued.status, 'COMPLETED')
  const [[run]] = await pool.query<RowDataPacket[]>('SELECT chunk_count FROM batch_runs')
  t.equal(sleeper.chunksDone + rescued.chunksDone, run?.chunk_count, 'every chunk committed exactly once')
  const events = await createChunkEventRepository(pool).list(sleeper.runId, 1_000)
  const takeover = events.find((event) => event.kind === 'TAKEOVER')
  t.match(takeover, { worker: rescued.workerId, epoch: 2 }, 'the rescuer’s claim of the expired chunk is a takeover')
  t.match(
    events.filter((event) => event.kind === 'REFUSED'),
    [{ worker: sleeper.workerId, chunkNo: takeover?.chunkNo, epoch: 1 }],
    'the sleeper’s late commit is a fencing refusal of that chunk',
  )
  t.equal(events.filter((event) => event.kind !== 'REFUSED').length, Number(run?.chunk_count) + 1, 'one claim per chunk, and the takeover')
  await audit(t, pool)
})

t.test('a restart after every worker stopped mid-run finishes the run', async (t) => {
  const { url, pool } = await testDatabase(t, 100)
  const stop = new AbortController()
  let commits = 0
  const stopped = await worker(t, url, {
    signal: stop.signal,
    settings: { ...settings, concurrency: 1 },
    pauses: {
      beforeCommit: async () => {
        if (++commits === 3) stop.abort()
      },
    },
  })
  t.match(stopped, { status: 'RUNNING', chunksDone: 3 }, 'the worker finished the chunk in hand, then stopped')
  const survivor = await worker(t, url)
  t.equal(survivor.status, 'COMPLETED')
  const [[run]] = await pool.query<RowDataPacket[]>('SELECT chunk_count FROM batch_runs')
  t.equal(survivor.chunksDone, Number(run?.chunk_count) - 3, 'the restart did only what was not DONE')
  await audit(t, pool)
})

t.test('a strategy the worker lacks: a request for it is refused, a run recorded with it is not joined', async (t) => {
  const { url, pool } = await testDatabase(t, 10)
  await t.rejects(worker(t, url, { strategy: 'naive' }), { code: 'UNKNOWN_STRATEGY' }, 'refused before anything is written')
  t.equal((await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM batch_runs'))[0][0]?.n, 0, 'no run recorded')
  await pool.query("INSERT INTO batch_runs (job, period, strategy, status) VALUES ('monthly-grade', ?, 'naive', 'REQUESTED')", [period])
  await t.rejects(worker(t, url), { code: 'UNKNOWN_STRATEGY' }, 'a bulk worker does not join a naive run')
  const [[run]] = await pool.query<RowDataPacket[]>('SELECT status, planner FROM batch_runs')
  t.same(run, { status: 'REQUESTED', planner: null }, 'the run is left untouched for workers that have its strategy')
})

t.test('bad input: a malformed, unfinished or pre-data period is refused; an empty month completes with no targets', async (t) => {
  const { url, pool } = await testDatabase(t, 10)
  for (const bad of ['2026-13', '26-10', '2026-1', "2026-10' OR 1=1", '0026-10']) {
    await t.rejects(worker(t, url, { period: bad }), { code: 'INVALID_PERIOD' }, bad)
  }
  await t.rejects(worker(t, url, { period: '2999-01' }), { code: 'PERIOD_NOT_ENDED' })
  await t.rejects(worker(t, url, { period: '2025-01' }), { code: 'PERIOD_BEFORE_ORDERS' }, 'every order is later: all would become BRONZE')
  t.equal((await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM batch_runs'))[0][0]?.n, 0, 'no run recorded for any of them')
  // One small order in December 2024: from then on months without orders are real, empty months.
  await pool.query("INSERT INTO orders (user_id, amount, category, status, ordered_at) VALUES (1, 100, 'books', 'PAID', '2024-12-15 03:00:00')")
  // A month without orders: the one user who starts as VIP (id 7) is downgraded, nobody else is touched.
  const quiet = await worker(t, url, { period: '2025-01' })
  t.match(quiet, { status: 'COMPLETED', targets: 1, couponsIssued: 0 })
  // The next empty month has no target at all: planned and COMPLETED at once, no chunk.
  const empty = await worker(t, url, { period: '2025-02' })
  t.match(empty, { status: 'COMPLETED', planned: true, targets: 0, chunksDone: 0 })
})

/** The run, REQUESTED, and an uncommitted chunk row of it that the plan's INSERT must wait for. */
async function planningBlocked(t: Test, pool: Pool) {
  await pool.query("INSERT INTO batch_runs (job, period, strategy, status) VALUES ('monthly-grade', ?, 'bulk', 'REQUESTED')", [period])
  const blocker = await pool.getConnection()
  t.teardown(() => blocker.release())
  await blocker.query('BEGIN')
  await blocker.query("INSERT INTO step_execution_log (run_id, step, chunk_no) SELECT id, 'grade', 0 FROM batch_runs")
  return blocker
}

t.test('a planner whose plan fails retries it at once, not after its plan lease (an hour here)', { timeout: 60_000 }, async (t) => {
  const { url, pool } = await testDatabase(t, 40)
  const blocker = await planningBlocked(t, pool)
  const { membership } = await member(t, url)
  // Its own pool, as a worker process has: a 1 s lock wait makes the blocked plan fail once.
  const workerPool = createPool({ url, role: 'batch', connectionLimit: 4, lockWaitTimeoutSec: 1 })
  t.teardown(() => workerPool.end())
  let failed!: () => void
  const planFailed = new Promise<void>((resolve) => (failed = resolve))
  const log = { info: () => undefined, warn: () => failed() }
  const report = runWorker({ pool: workerPool, membership, period, strategy: 'bulk', settings: { ...settings, planLeaseMs: 3_600_000 }, log })
  await planFailed
  await blocker.query('ROLLBACK')
  t.match(await report, { status: 'COMPLETED', planned: true })
  await audit(t, pool)
})

t.test('a planner renews its plan lease while it plans', { timeout: 60_000 }, async (t) => {
  const { url, pool } = await testDatabase(t, 40)
  const blocker = await planningBlocked(t, pool)
  const { membership } = await member(t, url)
  const workerPool = createPool({ url, role: 'batch', connectionLimit: 4 })
  t.teardown(() => workerPool.end())
  const report = runWorker({ pool: workerPool, membership, period, strategy: 'bulk', settings: { ...settings, planLeaseMs: 600 } })
  const leaseUntil = async () =>
    (await pool.query<RowDataPacket[]>('SELECT status, plan_lease_until FROM batch_runs'))[0][0] as { status: string; plan_lease_until: Date | null }
  let first: Date | null = null
  for (;;) {
    const { status, plan_lease_until: until } = await leaseUntil()
    if (status === 'PLANNING' && until && !first) first = until
    // Two lease lengths past the first: only a renewal can push it there while the plan is blocked.
    if (first && until && until.getTime() >= first.getTime() + 1_200) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.pass('the lease moved on while the plan was blocked') // the loop above is the check; the tap timeout fails it
  await blocker.query('ROLLBACK')
  t.match(await report, { status: 'COMPLETED', planned: true })
})

t.test('a chunk whose statement makes no progress lets its lease lapse, so another worker can take it over', { timeout: 60_000 }, async (t) => {
  const { url, pool } = await testDatabase(t, 10)
  const coupon = await giveOldCoupon(pool, 4) // 4 is a VIP target: the chunk revokes this coupon
  const blocker = await pool.getConnection()
  t.teardown(() => blocker.release())
  await blocker.query('BEGIN')
  await blocker.query('SELECT id FROM coupons WHERE id = ? FOR UPDATE', [coupon])
  const report = worker(t, url)
  const chunk = async () => (await pool.query<RowDataPacket[]>('SELECT status, lease_until < NOW(6) AS lapsed FROM step_execution_log'))[0][0]
  // The chunk is claimed and its revoke waits on our lock (30 s lock wait, 2 s lease):
  // renewing the lease from another connection would keep anyone else from taking it over.
  for (let row = await chunk(); !(row?.status === 'CLAIMED' && Number(row.lapsed) === 1); row = await chunk()) {
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.pass('the lease lapsed while the chunk was stuck') // the loop is the check; the tap timeout fails it
  await blocker.query('ROLLBACK')
  t.match(await report, { status: 'COMPLETED' })
  await audit(t, pool)
})

/** What a replica's latency window says when its last window's `requests` all took `ms`. */
function loadOf(ms: number, requests: number): LoadSummary {
  const counts = new Array<number>(latencyBucketCount).fill(0)
  counts[latencyBucketOf(ms)] = requests
  return { p99Us: ms * 1_000, rps: requests, counts: encodeLatencyCounts(counts) }
}

/** The run's pace as its status shows it, once some worker's pace is `wanted`. */
async function paceUntil(pool: Pool, wanted: (pace: RunStatusView['pacing'][number]) => boolean): Promise<RunStatusView['pacing']> {
  for (;;) {
    const status = await readRunStatus(pool, { period }, { heartbeatMs: 100 })
    if (status?.pacing.some(wanted)) return status.pacing
    await sleep(10)
  }
}

/** Pacing on, with the fixtures' budget (100 ms, no ratio) and floor (0.1). */
const pacingSettings = { ...settings.pacing, enabled: true, holdMs: 100, reportsFreshForMs: 1_000 }

t.test('pacing: a worker backs off while a live API replica reports a p99 over budget, and recovers when it falls', { timeout: 60_000 }, async (t) => {
  const { url, pool } = await testDatabase(t, 100)
  // A user-api replica as the services run it: its membership writes what its latency window says.
  let load = loadOf(300, 100)
  const api = createMembership({ pool, service: 'user-api', heartbeatMs: 100, load: { summary: () => load, everyMs: 20 }, log: { warn: () => undefined } })
  t.teardown(() => api.stop())
  await api.start()
  const reported = async () => (await readReportedLoad(pool, { services: ['user-api'], freshForMs: 1_000 }))[0]?.p99Us
  while ((await reported()) !== 300_000) await sleep(10)

  // Every chunk waits after its claim until the test has seen the back-off and the recovery, so the
  // run cannot end before them; decisions go on meanwhile (the lane the pace holds back asks).
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  const pacing = pacingSettings
  const report = worker(t, url, { settings: { ...settings, leaseMs: 60_000, pacing }, pauses: { afterClaim: () => released } })
  const statusUntil = (wanted: (pace: RunStatusView['pacing'][number]) => boolean) => paceUntil(pool, wanted)

  const backedOff = await statusUntil((pace) => pace.reason === 'floor')
  t.match(backedOff, [{ level: pacing.floor, reason: 'floor' }], 'halved down to the floor: the status shows it')
  load = loadOf(20, 100)
  // The status is written on a new reason, else once a second: the ramp itself may be over by then.
  await statusUntil((pace) => pace.reason === 'ramping')
  t.pass('under budget again it ramps up from the floor') // the wait is the check; the tap timeout fails it
  await statusUntil((pace) => pace.reason === 'full' && pace.level === settings.concurrency)
  t.pass('and reaches every lane') // the wait is the check; the tap timeout fails it
  release()

  t.match(await report, { status: 'COMPLETED', pacing: { reason: 'full', level: settings.concurrency } })
  t.same((await readRunStatus(pool, { period }, { heartbeatMs: 100 }))?.pacing, [], 'a completed run shows no pace')
  await audit(t, pool)
})

t.test('pacing: chunks start at the floor, whatever pace the plan reached (its statements are lighter than a chunk)', { timeout: 60_000 }, async (t) => {
  const { url, pool } = await testDatabase(t, 100)
  // No API traffic while planning: the plan goes flat out. The publish wait leaves time for traffic to turn up before the chunks.
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  // A long hold: the chunks' slow start barely moves while the test looks.
  const pacing = { ...pacingSettings, holdMs: 60_000 }
  const report = worker(t, url, { settings: { ...settings, publishDelayMs: 3_000, leaseMs: 60_000, pacing }, pauses: { afterClaim: () => released } })
  const planned = await paceUntil(pool, (pace) => pace.reason === 'full')
  t.match(planned, [{ level: settings.concurrency, reason: 'full' }], 'the plan, with nothing to yield to, went flat out')

  const api = createMembership({
    pool,
    service: 'user-api',
    heartbeatMs: 100,
    load: { summary: () => loadOf(20, 100), everyMs: 20 },
    log: { warn: () => undefined },
  })
  t.teardown(() => api.stop())
  await api.start()
  const chunks = await paceUntil(pool, (pace) => pace.reason === 'ramping')
  t.ok(chunks[0] && chunks[0].level < 0.2, `traffic under budget: the chunks start near the floor, not at the plan's level (${chunks[0]?.level})`)
  release()
  t.match(await report, { status: 'COMPLETED' })
  await audit(t, pool)
})
