import { setTimeout as sleep } from 'node:timers/promises'
import { createConnection } from 'mysql2/promise'
import { request } from 'undici'
import { isLockWaitTimeout, type RowDataPacket } from '@commerce/db'
import { signToken, type ServiceName } from '@commerce/kit'
import { readRunProgress, startBatchWorker } from '@commerce/local/batch'
import type { MariaDbServer } from '@commerce/local/mariadb'
import { createIsolatedNetwork, probeNetns } from '@commerce/local/netns'
import { isRunning, waitFor } from '@commerce/local/process'
import { localAuthSecret } from '@commerce/local/secret'
import { startTcpRelay } from '@commerce/local/tcp-proxy'
import { rowByRowWorkerScript } from '../baselines/row-by-row-batch.ts'
import type { Chart, Marker } from '../charts.ts'
import { couponIdOf } from '../live-mix.ts'
import {
  apiServices,
  auditCase,
  caseCharts,
  chunkState,
  clientFigures,
  completedRun,
  faultPeriod,
  formatFigures,
  heldChunk,
  kindOf,
  readErrors,
  readyAnswer,
  readyStatus,
  replicaCounter,
  requestRun,
  restartIntoRotation,
  seededRandom,
  startFaultBed,
  startTraffic,
  suiteEnv,
  waitForRun,
  type ClientFigures,
  type FaultBed,
  type FaultBedOptions,
  type TrafficKind,
} from './bed.ts'

// Fault cases 1-6 (issue 8; 7 and 8 are in connection-cases.ts). Each builds its own bed (database + stack), injects its fault
// under open-model traffic, waits on conditions (never on luck), and ends with auditCase.

/** What every case needs to build its bed (each case names its own database). */
export type FaultContext = Omit<FaultBedOptions, 'name' | 'env' | 'serviceEnv' | 'batchWorkers'> & { server: MariaDbServer; rate: number; seed: number }

export interface Held {
  what: string
  ok: boolean
  detail: string
}

export interface FaultCaseResult {
  id: number
  name: string
  /** What was injected and how often, in words ("20 × kill -9 of user-api, …"). */
  injected: string
  injections: number
  held: Held[]
  clients: ClientFigures
  /** Figures of the fault windows alone (the outage, the lock), when the case has one. */
  duringFault?: ClientFigures
  audit: { ok: boolean; text: string }
  ok: boolean
  notes: string[]
  charts: Chart[]
  /** Why the case could not run here (then nothing else is claimed). */
  blocked?: string
}

const couponKinds = new Set<TrafficKind>(['coupon list', 'redeem'])

export const held = (what: string, ok: boolean, detail: string): Held => ({ what, ok, detail })

/** Builds the bed, runs the case body, always disposes of the bed. */
export async function withBed<T>(
  ctx: FaultContext,
  name: string,
  extra: Pick<FaultBedOptions, 'env' | 'serviceEnv' | 'batchWorkers'>,
  body: (bed: FaultBed) => Promise<T>,
): Promise<T> {
  const bed = await startFaultBed({ ...ctx, ...extra, name })
  try {
    return await body(bed)
  } finally {
    await bed.dispose()
  }
}

/** The result once the traffic is stopped and the audit is in: ok when every held line and the audit are. */
export function finish(base: Omit<FaultCaseResult, 'ok'>): FaultCaseResult {
  return { ...base, ok: base.audit.ok && base.held.every((h) => h.ok) }
}

export const auditHeld = (audit: { ok: boolean; checks: { name: string; ok: boolean; detail: string }[] }, pattern: RegExp, what: string): Held => {
  const checks = audit.checks.filter((c) => pattern.test(c.name))
  return held(what, checks.length > 0 && checks.every((c) => c.ok), checks.map((c) => c.detail).join('; '))
}

/** Naive chunks (the row-by-row baseline: lease renewed per row), one at a time per worker, keep a run going long enough to be hit mid-chunk. */
const slowBatch = { BATCH_STRATEGY: 'naive', BATCH_CHUNK_SIZE: '20', BATCH_CONCURRENCY: '1' }

// ── 1. kill -9 ────────────────────────────────────────────────────────────────────────────

export async function killCase(ctx: FaultContext, { rounds }: { rounds: number }): Promise<FaultCaseResult> {
  return withBed(ctx, 'faults_kill', { env: slowBatch }, async (bed) => {
    const random = seededRandom(ctx.seed)
    const traffic = startTraffic(bed, { rate: ctx.rate, label: `kill-${Date.now()}` })
    const runId = await requestRun(bed)
    const kills: { at: number; service: ServiceName; index: number; midRun: boolean; heldChunk: boolean }[] = []
    for (let round = 0; round < rounds; round++) {
      for (const kind of ['batch-worker', 'api', 'event-apply'] as const) {
        // A seeded moment: 0.2-1.5 s after the previous replica is back.
        await sleep(200 + Math.floor(random() * 1_300))
        const service: ServiceName = kind === 'api' ? (random() < 0.5 ? 'user-api' : 'coupon-api') : kind
        const index = random() < 0.5 ? 0 : 1
        const victim = bed.stack.replicas.find((r) => r.service === service && r.index === index)!
        const run = await waitForRun(bed.pool, runId, () => true, 5_000, 'run status')
        const holding = service === 'batch-worker' && victim.instanceId ? Boolean(await heldChunk(bed.pool, runId, { instanceId: victim.instanceId })) : false
        await bed.stack.killReplica(service, index)
        kills.push({ at: traffic.now(), service, index, midRun: run.status !== 'COMPLETED', heldChunk: holding })
        bed.log(`  kill -9 ${service} #${index}${service === 'batch-worker' ? (holding ? ' (holding a chunk)' : ` (run ${run.status})`) : ''}; restarting it`)
        await restartIntoRotation(bed, service, index)
      }
    }
    const run = await completedRun(bed.pool, runId)
    const outcome = await traffic.stop()
    const audit = await auditCase(bed, outcome, { batch: true })
    const clients = clientFigures(outcome.result.samples)
    const byService = (service: ServiceName) => kills.filter((k) => k.service === service).length
    const batchKills = kills.filter((k) => k.service === 'batch-worker')
    return finish({
      id: 1,
      name: 'kill -9 of a replica under load',
      injected: `${kills.length} × kill -9 (user-api ${byService('user-api')}, coupon-api ${byService('coupon-api')}, event-apply ${byService('event-apply')}, batch-worker ${byService('batch-worker')}), each restarted`,
      injections: kills.length,
      held: [
        auditHeld(audit, /acknowledged/, '0 acknowledged writes lost'),
        auditHeld(audit, /one application per phone|2\. grade coupons|at most one request/, '0 duplicate coupons, redemptions or entries'),
        held(
          'batch COMPLETED by the survivors',
          run.status === 'COMPLETED',
          `${run.chunks} chunks, ${batchKills.filter((k) => k.midRun).length}/${batchKills.length} batch-worker kills mid-run, ${batchKills.filter((k) => k.heldChunk).length} while holding a chunk`,
        ),
        held('reads (GET) routed around the dead replica: 0 errors', readErrors(clients) === 0, `${readErrors(clients)} read errors`),
      ],
      clients,
      audit: { ok: audit.ok, text: audit.text },
      notes: [
        `Write errors are requests in flight on the killed replica: nginx (proxy_next_upstream error timeout http_502 http_503, tries 2, no non_idempotent) retries a POST only if it was never sent, so a POST the replica had received answers 502/503 and is not retried — not even a redeem carrying an Idempotency-Key. Their outcome is unknown to the client; none of them is counted as acknowledged.`,
      ],
      charts: caseCharts(
        '1. kill -9',
        outcome.result.samples,
        kills.map((k) => ({ at: k.at, label: `${k.service} #${k.index}` })),
      ),
    })
  })
}

// ── 2. MariaDB stopped ────────────────────────────────────────────────────────────────────

export async function databaseOutageCase(ctx: FaultContext, { outageMs }: { outageMs: number }): Promise<FaultCaseResult> {
  return withBed(ctx, 'faults_outage', { env: slowBatch }, async (bed) => {
    const traffic = startTraffic(bed, { rate: ctx.rate, label: `outage-${Date.now()}` })
    const runId = await requestRun(bed)
    const before = await waitForRun(bed.pool, runId, (run) => run.chunksDone >= 1, 60_000, 'the first chunk')
    const replicas = bed.stack.replicas
    const stoppedAt = traffic.now()
    bed.log(`  stopping MariaDB (run ${before.chunksDone}/${before.chunks} chunks done)`)
    await bed.server.stop()
    // Not ready = every replica's own /ready answers 503 (direct to its port, not via nginx).
    const allReady = async (status: number) => (await Promise.all(replicas.map((r) => readyStatus(r.port)))).every((s) => s === status)
    const reportedNotReady = await waitFor('every replica to report not ready', () => allReady(503), 10_000, 50).then(
      () => true,
      () => false,
    )
    const notReadyAfter = traffic.now() - stoppedAt
    await sleep(Math.max(0, outageMs - (traffic.now() - stoppedAt) * 1000))
    const restartedAt = traffic.now()
    await bed.server.start()
    bed.log('  MariaDB started again')
    await waitFor('every replica to be ready again', () => allReady(200), 60_000, 50).catch(async (error: Error) => {
      // Which replica, and what it says: the reason is what tells a stuck pool from a clock or a membership.
      const answers = await Promise.all(replicas.map(async (r) => `${r.service} #${r.index}: ${JSON.stringify(await readyAnswer(r.port))}`))
      throw new Error(`${error.message}; ${answers.join('; ')}`)
    })
    const readyAgainAfter = traffic.now() - restartedAt
    const run = await completedRun(bed.pool, runId)
    const outcome = await traffic.stop()
    const audit = await auditCase(bed, outcome, { batch: true })
    const all = outcome.result.samples
    // Requests scheduled while the server was down: they must have been answered, and fast.
    const during = clientFigures(all.filter((s) => s.at / 1000 >= stoppedAt && s.at / 1000 < restartedAt))
    const clientTimeoutMs = 10_000
    // nginx sits out a replica that answered 503 for fail_timeout: clients are served again a little after the replicas.
    const lastError = all.filter((s) => s.status === 0 || s.status >= 500).reduce((latest, s) => Math.max(latest, (s.at + s.ms) / 1000), restartedAt)
    const alive = replicas.filter((r) => isRunning(r.pid, r.script)).length
    return finish({
      id: 2,
      name: `MariaDB stopped for ${outageMs / 1000} s mid-load and mid-batch`,
      injected: `1 × MariaDB stopped (SIGTERM) for ${(restartedAt - stoppedAt).toFixed(1)} s, then started`,
      injections: 1,
      held: [
        held(
          'every replica reported not ready (/ready 503)',
          reportedNotReady,
          reportedNotReady ? `all ${replicas.length} within ${notReadyAfter.toFixed(2)} s of the stop` : `not all ${replicas.length} within 10 s`,
        ),
        held(
          'no request hung past its timeout during the outage',
          during.max < clientTimeoutMs && during.networkErrors === 0,
          `max ${during.max.toFixed(0)} ms, ${during.networkErrors} client timeouts/resets (timeout ${clientTimeoutMs / 1000} s)`,
        ),
        held(
          'no replica died; all ready again by themselves',
          alive === replicas.length,
          `${alive}/${replicas.length} processes alive, ready ${readyAgainAfter.toFixed(2)} s after the restart; last client error ${(lastError - restartedAt).toFixed(2)} s after it`,
        ),
        held('the batch resumed and completed exactly once', run.status === 'COMPLETED', `${run.status}, ${run.chunksDone}/${run.chunks} chunks`),
        auditHeld(audit, /acknowledged/, '0 acknowledged writes lost'),
      ],
      clients: clientFigures(all),
      duringFault: during,
      audit: { ok: audit.ok, text: audit.text },
      notes: [
        `During the outage: ${formatFigures(during)}.`,
        'Each replica answers 503 (code UNAVAILABLE, Retry-After: 1) as soon as its pool cannot connect; nginx counts a 503 as a failed attempt (proxy_next_upstream http_503, max_fails=1), so once both replicas of a service have answered 503 it answers 502 UPSTREAM_UNAVAILABLE (Retry-After: 1) itself for fail_timeout (2 s), also for up to 2 s after the database is back.',
      ],
      charts: caseCharts('2. MariaDB outage', all, [
        { at: stoppedAt, label: 'MariaDB stopped' },
        { at: restartedAt, label: 'MariaDB started' },
      ]),
    })
  })
}

// ── 3. SIGSTOP past the lease ─────────────────────────────────────────────────────────────

/**
 * True when the chunk's row is not locked by an open transaction (a lock-free probe, rolled
 * back at once). Exact primary key: NOWAIT on a range would trip over other chunks' rows.
 */
async function chunkRowUnlocked(bed: FaultBed, runId: number, chunkNo: number): Promise<boolean> {
  const conn = await bed.pool.getConnection()
  try {
    await conn.beginTransaction()
    await conn.query("SELECT chunk_no FROM step_execution_log WHERE run_id = ? AND step = 'grade' AND chunk_no = ? FOR UPDATE NOWAIT", [runId, chunkNo])
    return true
  } catch (error) {
    if (isLockWaitTimeout(error)) return false
    throw error
  } finally {
    await conn.rollback()
    conn.release()
  }
}

/**
 * Cuts a worker off (a freeze, a partition) while it holds an unfinished chunk, until another
 * worker has claimed that chunk (its lease ran out), then lets it go on. Only between its
 * transactions: cut inside one (a naive row renews the lease there, holding the chunk's row
 * lock), it would block the takeover until the server rolls its idle transaction back (after the lease), and its
 * connection, not fencing, would end its work. So a cut that lands inside one is undone at once
 * and tried again a moment later.
 */
async function cutPastLease(
  bed: FaultBed,
  runId: number,
  owner: { instanceId: string },
  cut: { off: () => Promise<void>; on: () => Promise<void> },
  leaseMs: number,
) {
  for (let attempt = 1; attempt <= 500; attempt++) {
    await waitFor(
      'the worker to hold a chunk',
      async () => {
        if (await heldChunk(bed.pool, runId, owner)) return true
        // Sized so the run outlasts every injection; if it does not, say so rather than wait.
        if ((await readRunProgress(bed.pool, { id: runId }))?.status === 'COMPLETED')
          throw new Error('the run completed before the worker held another chunk: give the case more users')
        return false
      },
      60_000,
      5,
    )
    await cut.off()
    await sleep(50) // a statement already sent lands before the checks
    const holding = await heldChunk(bed.pool, runId, owner)
    if (!holding || !(await chunkRowUnlocked(bed, runId, holding.chunkNo))) {
      await cut.on()
      await sleep(Math.floor(Math.random() * 30))
      continue
    }
    const cutAt = performance.now()
    // A hang check, not a speed check: the takeover comes after the lease, once another worker's
    // lane finishes its own chunk and the rest its pacer asks for (long while traffic's p99 is
    // over budget, as on a busy machine), so only minutes without it mean something is stuck.
    await waitFor(
      'another worker to claim the chunk',
      async () => (await chunkState(bed.pool, runId, holding.chunkNo)).epoch > holding.epoch,
      leaseMs + 180_000,
      20,
    )
    await cut.on()
    return { chunkNo: holding.chunkNo, epoch: holding.epoch, cutMs: performance.now() - cutAt, attempts: attempt }
  }
  throw new Error('could not cut the worker off between its transactions in 500 attempts')
}

export async function freezeCase(ctx: FaultContext, { freezes }: { freezes: number }): Promise<FaultCaseResult> {
  return withBed(ctx, 'faults_freeze', { env: slowBatch }, async (bed) => {
    const leaseMs = Number(suiteEnv.BATCH_LEASE_MS)
    const traffic = startTraffic(bed, { rate: ctx.rate, label: `freeze-${Date.now()}` })
    const runId = await requestRun(bed)
    const victim = bed.stack.replicas.find((r) => r.service === 'batch-worker' && r.index === 1)!
    const markers: Marker[] = []
    const frozen: { chunkNo: number; epoch: number; cutMs: number; attempts: number }[] = []
    const signal = async (name: NodeJS.Signals) => {
      process.kill(victim.pid, name)
    }
    for (let i = 0; i < freezes; i++) {
      const result = await cutPastLease(bed, runId, { instanceId: victim.instanceId! }, { off: () => signal('SIGSTOP'), on: () => signal('SIGCONT') }, leaseMs)
      frozen.push(result)
      markers.push({ at: traffic.now() - result.cutMs / 1000, label: 'SIGSTOP' }, { at: traffic.now(), label: 'SIGCONT' })
      bed.log(
        `  batch-worker #1 frozen ${(result.cutMs / 1000).toFixed(1)} s holding chunk ${result.chunkNo} (epoch ${result.epoch}); taken over, then resumed`,
      )
    }
    const run = await completedRun(bed.pool, runId)
    // The resumed worker reaches its next fenced statement only after SIGCONT: wait for its counter.
    let rejections = 0
    await waitFor(
      'the resumed worker to be refused by fencing',
      async () => {
        rejections = await replicaCounter(victim.port, 'batch_fencing_rejections_total')
        return rejections >= frozen.length
      },
      30_000,
      100,
    ).catch(() => undefined)
    const outcome = await traffic.stop()
    const audit = await auditCase(bed, outcome, { batch: true })
    return finish({
      id: 3,
      name: 'batch worker frozen (SIGSTOP) past its lease, then resumed',
      injected: `${frozen.length} × SIGSTOP of batch-worker #1 while it held a chunk, SIGCONT once another worker had claimed it (frozen ${frozen.map((f) => (f.cutMs / 1000).toFixed(1)).join(', ')} s; lease ${leaseMs / 1000} s)`,
      injections: frozen.length,
      held: [
        held('its late commits were refused by fencing', rejections >= frozen.length, `batch_fencing_rejections_total = ${rejections} on the frozen worker`),
        held('the run COMPLETED', run.status === 'COMPLETED', `${run.chunksDone}/${run.chunks} chunks`),
        auditHeld(audit, /2\. grade coupons|5\. every chunk/, 'no double effect (coupons and chunks exactly once)'),
      ],
      clients: clientFigures(outcome.result.samples),
      audit: { ok: audit.ok, text: audit.text },
      notes: [
        `Freezes tried per freeze kept: ${frozen.map((f) => f.attempts).join(', ')}. A freeze is kept only between the worker's transactions (a probe takes the chunk's row lock with NOWAIT); one that lands inside a row's transaction is undone at once: frozen there, it would hold the chunk's row lock until the server rolls its idle transaction back (after the lease), and that rollback, not fencing, would end its work.`,
      ],
      charts: caseCharts('3. SIGSTOP past the lease', outcome.result.samples, markers),
    })
  })
}

// ── 4. network partition ──────────────────────────────────────────────────────────────────

export async function partitionCase(ctx: FaultContext, { partitions }: { partitions: number }): Promise<FaultCaseResult> {
  const unavailable = await probeNetns()
  if (unavailable) {
    return {
      id: 4,
      name: 'batch worker cut off from the database (ip netns + veth)',
      injected: '—',
      injections: 0,
      held: [],
      clients: clientFigures([]),
      audit: { ok: false, text: 'not run' },
      ok: false,
      notes: [],
      charts: [],
      blocked: `ip netns is not available here: ${unavailable}`,
    }
  }
  // Each partition needs the run going while it waits for the worker to hold a chunk between two
  // row transactions, a lease and a rejoin (about 1.5 s of run each, seen here; 3 s allowed): naive
  // rows are paced so the run lasts that long on any machine. About half the seeded users are
  // targets, shared by 3 workers (2 daemons and the isolated one).
  const rowPauseMs = Math.ceil((partitions * 3_000 * 3) / (ctx.users / 2))
  const pacedBatch = { ...slowBatch, NAIVE_ROW_PAUSE_MS: String(rowPauseMs) }
  return withBed(ctx, 'faults_partition', { env: pacedBatch }, async (bed) => {
    const leaseMs = Number(suiteEnv.BATCH_LEASE_MS)
    const network = await createIsolatedNetwork('faultns', 213)
    // The server binds loopback only; the relay on the link's host address is the worker's way in.
    const relay = await startTcpRelay({ listenHost: network.hostAddress, targetPort: bed.server.port })
    const isolatedUrl = new URL(bed.url)
    isolatedUrl.hostname = relay.host
    isolatedUrl.port = String(relay.port)
    try {
      const traffic = startTraffic(bed, { rate: ctx.rate, label: `partition-${Date.now()}` })
      // The isolated worker registers before the run exists, so it takes part from the first chunk
      // (joining a run already under way, it could find it finished before it got a chunk).
      const worker = startBatchWorker(9, {
        databaseUrl: isolatedUrl.toString(),
        period: faultPeriod,
        launcher: network.exec,
        script: rowByRowWorkerScript,
        env: { ...suiteEnv, ...pacedBatch, HEARTBEAT_MS: '200', LOG_LEVEL: 'warn' },
      })
      // Its instance id, not its pid: a partitioned worker's membership row may be pruned meanwhile.
      let instanceId = ''
      const exited = worker.finished.then((exit) => {
        throw new Error(`the isolated worker exited (code ${exit.code}) before it registered; see ${worker.logFile}`)
      })
      await Promise.race([
        exited,
        waitFor(
          'the isolated worker to register',
          async () => {
            const [rows] = await bed.pool.query<RowDataPacket[]>('SELECT LOWER(HEX(id)) AS id FROM was_instances WHERE pid = ?', [worker.child.pid])
            instanceId = String(rows[0]?.id ?? '')
            return instanceId !== ''
          },
          30_000,
          50,
        ),
      ]).catch((error: unknown) => {
        worker.child.kill('SIGKILL')
        throw error
      })
      const runId = await requestRun(bed)
      const markers: Marker[] = []
      const cuts: Awaited<ReturnType<typeof cutPastLease>>[] = []
      // After each heal: how long until the worker held a chunk again (it rejoined the run).
      const rejoinMs: number[] = []
      try {
        for (let i = 0; i < partitions; i++) {
          const cut = await cutPastLease(bed, runId, { instanceId }, { off: () => network.partition(), on: () => network.heal() }, leaseMs)
          markers.push({ at: traffic.now() - cut.cutMs / 1000, label: 'link down' }, { at: traffic.now(), label: 'link up' })
          cuts.push(cut)
          const healed = performance.now()
          await waitFor(
            'the worker to claim a chunk again after the heal',
            async () => {
              const holding = await heldChunk(bed.pool, runId, { instanceId })
              if (holding !== undefined && holding.chunkNo !== cut.chunkNo) return true
              // As cutPastLease: say so when the run ends first, rather than wait.
              if ((await readRunProgress(bed.pool, { id: runId }))?.status === 'COMPLETED')
                throw new Error('the run completed before the worker claimed again: give the case more users')
              return false
            },
            30_000,
            10,
          )
          rejoinMs.push(performance.now() - healed)
          bed.log(
            `  worker in netns cut off ${(cut.cutMs / 1000).toFixed(1)} s holding chunk ${cut.chunkNo} (epoch ${cut.epoch}); taken over, link restored; claimed again ${(rejoinMs.at(-1)! / 1000).toFixed(1)} s later`,
          )
        }
      } catch (error) {
        worker.child.kill('SIGKILL')
        throw error
      }
      const run = await completedRun(bed.pool, runId)
      const exit = await Promise.race([worker.finished, sleep(90_000).then(() => null)])
      if (!exit) worker.child.kill('SIGKILL')
      const outcome = await traffic.stop()
      const audit = await auditCase(bed, outcome, { batch: true })
      const rejections = exit?.report?.fencingRejections ?? 0
      // A chunk's owner at DONE is the worker that committed it.
      const [stale] = await bed.pool.query<RowDataPacket[]>(
        "SELECT COUNT(*) AS n FROM step_execution_log WHERE run_id = ? AND chunk_no IN (?) AND owner = UNHEX(REPLACE(?, '-', ''))",
        [runId, cuts.map((c) => c.chunkNo), instanceId],
      )
      const staleCommitted = Number(stale[0]?.n)
      return finish({
        id: 4,
        name: 'batch worker cut off from the database (ip netns + veth)',
        injected: `${cuts.length} × the veth link of a worker in its own network namespace taken down while it held a chunk, up again once another worker had claimed it (cut ${cuts.map((c) => (c.cutMs / 1000).toFixed(1)).join(', ')} s)`,
        injections: cuts.length,
        held: [
          held(
            'the others took the chunk over after the lease',
            cuts.length === partitions,
            `${cuts.length} chunks claimed by another worker while the link was down`,
          ),
          held(
            'it rejoined after every cut (claimed a chunk again)',
            rejoinMs.length === partitions,
            `claimed again ${rejoinMs.map((ms) => (ms / 1000).toFixed(1)).join(', ')} s after each heal`,
          ),
          held(
            'back on the link, none of its stale chunks committed: each was DONE by the worker that took it over',
            staleCommitted === 0 && exit?.code === 0,
            `${staleCommitted} of the ${cuts.length} cut chunks DONE by the cut-off worker; its stale work ended ${rejections} × in a fencing refusal, otherwise in a rolled-back transaction (the server ended its idle one after the lease); worker exit ${exit ? `code ${exit.code}` : 'timed out'}, chunksDone ${exit?.report?.chunksDone ?? '?'}`,
          ),
          held('the run COMPLETED', run.status === 'COMPLETED', `${run.chunksDone}/${run.chunks} chunks`),
          auditHeld(audit, /2\. grade coupons|5\. every chunk/, 'no double effect (coupons and chunks exactly once)'),
        ],
        clients: clientFigures(outcome.result.samples),
        audit: { ok: audit.ok, text: audit.text },
        notes: [
          'The worker runs in its own network namespace (ip netns, veth pair); the server binds 127.0.0.1, so a TCP relay on the host end of the link forwards to it. Taking the host end down drops packets both ways (no reset), as a real partition.',
          'A reset sent while the link is down is lost, so the worker can come back with a pooled connection that waits for an answer that never comes; the client-side statement timeout destroys it (and the server rolls back whatever it held after the lease), so the worker rejoins after every cut — before statements were bounded it stopped claiming after the 2nd or 3rd.',
        ],
        charts: caseCharts('4. partition', outcome.result.samples, markers),
      })
    } finally {
      await relay.close()
      await network.remove()
    }
  })
}

// ── 5. slow database: a lock held on rows the API needs ───────────────────────────────────

export async function lockCase(ctx: FaultContext, { holds, holdMs }: { holds: number; holdMs: number }): Promise<FaultCaseResult> {
  return withBed(ctx, 'faults_lock', {}, async (bed) => {
    // Hot users: a third of the coupon holders (ids divisible by 9); half the redeems go to them,
    // every other request to a user outside them, so "unlocked" figures never touch a lock.
    const holders = Math.floor(bed.users / 3)
    const hotUsers = Array.from({ length: Math.floor(holders / 3) }, (_, i) => 9 * (i + 1))
    const isHot = (user: number) => user % 9 === 0 && user <= 9 * hotUsers.length
    const hotIndices = new Set<number>()
    const random = seededRandom(ctx.seed)
    const userOf = (index: number, randomUser: () => number) => {
      if (kindOf(index) === 'redeem' && random() < 0.5) {
        hotIndices.add(index)
        return hotUsers[Math.floor(random() * hotUsers.length)]!
      }
      for (;;) {
        const user = randomUser()
        if (!isHot(user)) return user
      }
    }
    const traffic = startTraffic(bed, { rate: ctx.rate, label: `lock-${Date.now()}`, userOf })
    await sleep(1_000) // a baseline second before the first lock
    const locker = await createConnection({ uri: bed.url })
    // As the services' sessions: in REPEATABLE READ a locking read also locks the rows and gaps it scans past.
    await locker.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED')
    const [hotRows] = await locker.query<RowDataPacket[]>('SELECT id FROM coupons WHERE user_id IN (?)', [hotUsers])
    const hotCoupons = hotRows.map((row) => row.id as Buffer)
    const windows: { from: number; to: number }[] = []
    const probes: { status: number; ms: number; readyMs: number[] }[] = []
    try {
      for (let i = 0; i < holds; i++) {
        await locker.query('SET SESSION innodb_lock_wait_timeout = 600')
        await locker.beginTransaction()
        // By primary key: for `SELECT id` the optimizer prefers scanning a (covering) secondary
        // index, and that scan leaves every entry it passed locked, other users' coupons too.
        await locker.query('SELECT id FROM coupons FORCE INDEX (PRIMARY) WHERE id IN (?) FOR UPDATE', [hotCoupons])
        const from = traffic.now()
        // One hot redeem by hand, of a coupon still ISSUED (a redeemed one is refused at once with
        // 409: the update skips a locked row whose committed version cannot match).
        const [[issued]] = await locker.query<RowDataPacket[]>("SELECT user_id FROM coupons WHERE id IN (?) AND status = 'ISSUED' LIMIT 1", [hotCoupons])
        const user = Number(issued?.user_id ?? hotUsers[0])
        const at = performance.now()
        const probe = await request(`${bed.stack.url}/coupons/${couponIdOf(user)}/redeem`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${signToken(localAuthSecret(), { userId: user, role: 'user' })}`,
            'idempotency-key': `lock-probe-${Date.now()}-${i}`,
          },
        })
        await probe.body.dump()
        const probeMs = performance.now() - at
        // The pools still serve: each coupon-api replica's /ready (a SELECT 1 through its pool).
        const readyMs: number[] = []
        for (const replica of bed.stack.replicas.filter((r) => r.service === 'coupon-api')) {
          const t0 = performance.now()
          await readyStatus(replica.port)
          readyMs.push(performance.now() - t0)
        }
        probes.push({ status: probe.statusCode, ms: probeMs, readyMs })
        await sleep(Math.max(0, holdMs - (traffic.now() - from) * 1000))
        await locker.rollback()
        windows.push({ from, to: traffic.now() })
        bed.log(
          `  lock on ${hotUsers.length} users' coupons held ${(traffic.now() - from).toFixed(1)} s; a hot redeem answered ${probe.statusCode} in ${probeMs.toFixed(0)} ms`,
        )
        await sleep(1_000)
      }
    } finally {
      await locker.end()
    }
    const runId = await requestRun(bed)
    const run = await completedRun(bed.pool, runId)
    const outcome = await traffic.stop()
    const audit = await auditCase(bed, outcome, { batch: true })
    const all = outcome.result.samples
    const inWindow = (s: { at: number }) => windows.some((w) => s.at / 1000 >= w.from && s.at / 1000 < w.to)
    const hot = clientFigures(all.filter((s) => inWindow(s) && hotIndices.has(s.index)))
    const coldCoupons = clientFigures(all.filter((s) => inWindow(s) && !hotIndices.has(s.index) && couponKinds.has(kindOf(s.index))))
    const otherServices = clientFigures(all.filter((s) => inWindow(s) && !couponKinds.has(kindOf(s.index))))
    const outside = clientFigures(all.filter((s) => !inWindow(s)))
    const during = clientFigures(all.filter(inWindow))
    const deferredProbes = probes.every((p) => p.status === 202)
    const maxReadyMs = Math.max(...probes.flatMap((p) => p.readyMs))
    const p99 = (f: ClientFigures) => `p50 ${f.p50.toFixed(1)} ms, p99 ${f.p99.toFixed(1)} ms, max ${f.max.toFixed(0)} ms`
    return finish({
      id: 5,
      name: 'slow database: a lock held on rows the API needs',
      injected: `${windows.length} × a transaction holding FOR UPDATE locks on the coupons of ${hotUsers.length} users for ${holdMs / 1000} s; half the redeems target those users`,
      injections: windows.length,
      held: [
        held(
          'no request failed or hung past its timeout',
          during.errors === 0 && during.max < 10_000,
          `${during.requests} requests during the lock, ${during.errors} errors, max ${during.max.toFixed(0)} ms`,
        ),
        held(
          'other services (user-api, event-apply) unaffected',
          otherServices.errors === 0,
          `during the lock: ${p99(otherServices)}; outside it: ${p99(outside)}`,
        ),
        // Starved, they would wait out the held lock (holdMs): half of it tells the two apart on a busy machine too.
        held(
          `coupon-api kept connections for everything else: hot redeems deferred (202), its pool and unlocked coupon routes (p99) answered within ${holdMs / 2000} s`,
          deferredProbes && maxReadyMs < holdMs / 2 && coldCoupons.errors === 0 && coldCoupons.p99 < holdMs / 2,
          `a hot redeem answered ${probes.map((p) => `${p.status} in ${p.ms.toFixed(0)} ms`).join(', ')}; coupon-api /ready (a query through its pool) took up to ${maxReadyMs.toFixed(0)} ms; unlocked coupon routes ${p99(coldCoupons)}`,
        ),
        held('the batch afterwards COMPLETED', run.status === 'COMPLETED', `${run.chunksDone}/${run.chunks} chunks`),
      ],
      clients: clientFigures(all),
      duringFault: during,
      audit: { ok: audit.ok, text: audit.text },
      notes: [
        `Redeems of locked coupons during the lock: ${formatFigures(hot)}.`,
        `Coupon routes of unlocked users during the lock: ${formatFigures(coldCoupons)}.`,
        `user-api and event-apply during the lock: ${formatFigures(otherServices)}.`,
        'A redeem that meets a row lock waits innodb_lock_wait_timeout (2 s on API sessions), then is recorded and answered 202 (DESIGN 6.4). At most COUPON_REDEEM_CONCURRENCY (4) redeems per replica may wait so, each holding one of its 10 pooled connections; a redeem beyond them is recorded and answered 202 at once (the bulkhead), so the other routes keep 6 connections. The sweeper applies every 202 once the lock is gone.',
      ],
      charts: caseCharts(
        '5. lock held',
        all,
        windows.flatMap((w) => [
          { at: w.from, label: 'lock taken' },
          { at: w.to, label: 'released' },
        ]),
      ),
    })
  })
}

// ── 6. rolling restart ────────────────────────────────────────────────────────────────────

export async function rollingRestartCase(ctx: FaultContext, { passes }: { passes: number }): Promise<FaultCaseResult> {
  return withBed(ctx, 'faults_rolling', { env: slowBatch }, async (bed) => {
    const traffic = startTraffic(bed, { rate: ctx.rate, label: `rolling-${Date.now()}` })
    const runId = await requestRun(bed)
    const markers: Marker[] = []
    let restarts = 0
    for (let pass = 0; pass < passes; pass++) {
      for (const replica of bed.stack.replicas) {
        markers.push({ at: traffic.now(), label: `${replica.service} #${replica.index}` })
        // SIGTERM, wait for it to exit, start a fresh one, wait until nginx routes to it; then the next.
        await restartIntoRotation(bed, replica.service, replica.index)
        restarts += 1
      }
    }
    bed.log(`  ${restarts} replicas restarted one by one`)
    const run = await completedRun(bed.pool, runId)
    const outcome = await traffic.stop()
    const audit = await auditCase(bed, outcome, { batch: true })
    const clients = clientFigures(outcome.result.samples)
    return finish({
      id: 6,
      name: 'graceful rolling restart of every replica under load',
      injected: `${restarts} × SIGTERM of a replica (${[...apiServices, 'batch-worker'].join(', ')}), a fresh one ready before the next`,
      injections: restarts,
      held: [
        held('0 errors seen by clients', clients.errors === 0, formatFigures(clients)),
        held('the batch COMPLETED across the restarts', run.status === 'COMPLETED', `${run.chunksDone}/${run.chunks} chunks`),
        auditHeld(audit, /acknowledged/, '0 acknowledged writes lost'),
      ],
      clients,
      audit: { ok: audit.ok, text: audit.text },
      notes: [],
      charts: caseCharts('6. rolling restart', outcome.result.samples, markers),
    })
  })
}
