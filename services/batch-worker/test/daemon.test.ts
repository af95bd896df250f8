import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { auditBatch } from '@commerce/audit'
import type { Pool, RowDataPacket } from '@commerce/db'
import { bearer, testEnv } from '@commerce/kit/testing'
import { buildApp } from '../src/app.ts'
import { builtInStrategies, bulkStrategy, type ChunkStrategies } from '../src/job/chunks.ts'
import { loadServiceConfig } from '../src/config.ts'
import { period, settings, testDatabase } from '../src/testing.ts'

const fast = { BATCH_DAEMON_POLL_MS: '20', BATCH_POLL_MS: '20', BATCH_GUARD_REFRESH_MS: '10', BATCH_PUBLISH_DELAY_MS: '30', BATCH_CHUNK_SIZE: '10' }

/** The 2026-10 run fires at 2026-11-01 00:00 Asia/Seoul (2026-10-31 15:00 UTC); each test picks its instant from it. */
const fireAt = Date.parse('2026-10-31T15:00:00Z')
const hours = (n: number) => n * 3_600_000
const at = (ms: number) => async () => new Date(ms)

async function daemon(t: Test, url: string, env: Record<string, string>, now: number, strategies?: ChunkStrategies) {
  const app = await buildApp({ config: loadServiceConfig(testEnv(url, { ...fast, ...env })), logger: false, clock: at(now), strategies })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

type App = Awaited<ReturnType<typeof daemon>>

/** Polls the run's status route until it reports COMPLETED (the tap timeout bounds the wait). */
async function completed(app: App, url: string): Promise<Record<string, unknown>> {
  for (;;) {
    const response = await app.inject(url)
    if (response.statusCode === 200 && response.json().status === 'COMPLETED') return response.json()
    await sleep(20)
  }
}

async function audited(t: Test, pool: Pool) {
  const result = await auditBatch(pool, { period, policy: settings.policy })
  t.same(
    result.checks.filter((check) => !check.ok),
    [],
    'auditor passes',
  )
}

t.test('a daemon that was down at the scheduled time starts the missed run when it comes back', async (t) => {
  const { url, pool } = await testDatabase(t, 60)
  // Back 6 h after the fire time, within the 24 h grace: a misfire to catch up.
  const app = await daemon(t, url, { BATCH_MISFIRE_GRACE_MS: String(hours(24)) }, fireAt + hours(6))
  const run = await completed(app, `/runs?period=${period}`)
  t.match(run, { period, status: 'COMPLETED', strategy: 'bulk' })
  t.equal(run.chunksDone, run.chunks)
  const metrics = (await app.inject('/metrics')).body
  t.match(metrics, /batch_chunks_done_total\{service="batch-worker"\} [1-9]/)
  await audited(t, pool)
})

t.test('a daemon past the misfire grace does not start an old period by itself', async (t) => {
  const { url } = await testDatabase(t, 10)
  const app = await daemon(t, url, { BATCH_MISFIRE_GRACE_MS: String(hours(24)) }, fireAt + hours(24) + 1)
  // Three completed polls: each would have started the run had it been due.
  while (!/batch_daemon_polls_total\{service="batch-worker"\} ([3-9]|\d\d)/.test((await app.inject('/metrics')).body)) await sleep(20)
  t.equal((await app.inject(`/runs?period=${period}`)).json().code, 'RUN_NOT_FOUND')
})

t.test('POST /runs (admin) requests a run the daemon then completes; bad requests are refused', async (t) => {
  const { url, pool } = await testDatabase(t, 60)
  // Six hours into November: October has ended, November has not.
  // A second strategy registered (as a benchmark registers its baselines): `spare`, bulk by another name.
  const app = await daemon(t, url, { BATCH_SCHEDULE_ENABLED: 'false' }, fireAt + hours(6), { ...builtInStrategies, spare: bulkStrategy })
  const post = (payload: object, headers: Record<string, string> = bearer(1, 'admin')) => app.inject({ method: 'POST', url: '/runs', payload, headers })

  t.equal((await post({ period })).statusCode, 202)
  t.equal((await app.inject({ method: 'POST', url: '/runs', payload: { period } })).statusCode, 401)
  t.equal((await post({ period }, bearer(1))).json().code, 'FORBIDDEN')
  for (const bad of [{ period: '2026-13' }, { period: "2026-10' OR 1=1" }, {}, { period, strategy: 'Bulk; DROP' }]) {
    const response = await post(bad)
    t.equal(response.statusCode, 400, JSON.stringify(bad))
    t.equal(response.json().code, 'VALIDATION')
  }
  t.equal((await post({ period: '2026-11' })).json().code, 'PERIOD_NOT_ENDED', 'the month in progress')
  const unknown = await post({ period: '2026-09', strategy: 'naive' })
  t.same([unknown.statusCode, unknown.json().code], [400, 'UNKNOWN_STRATEGY'], "a benchmark's baseline is not this daemon's")

  const accepted = await post({ period, strategy: 'spare' })
  t.equal(accepted.statusCode, 202, 'requesting again is idempotent')
  const location = accepted.headers.location as string
  t.match(location, /^\/runs\/\d+$/)
  const run = await completed(app, location)
  t.match(run, { period, strategy: 'bulk' }, 'the first request decided the strategy')
  t.equal((await app.inject('/runs/999999')).json().code, 'RUN_NOT_FOUND')
  t.equal((await app.inject('/runs/abc')).statusCode, 400)
  await audited(t, pool)
})

t.test('POST /runs refuses a period that would regrade users from the wrong data; force needs a reason, which the run records', async (t) => {
  const { url, pool } = await testDatabase(t, 30)
  const app = await daemon(t, url, { BATCH_SCHEDULE_ENABLED: 'false' }, fireAt + hours(6))
  const post = (payload: object, query = '') => app.inject({ method: 'POST', url: `/runs${query}`, payload, headers: bearer(1, 'admin') })
  const grades = async () => (await pool.query<RowDataPacket[]>('SELECT id, grade FROM users ORDER BY id'))[0].map((row) => `${row.id}:${row.grade}`)
  const before = await grades()

  for (const [period, code] of [
    ['0026-10', 'INVALID_PERIOD'], // Date.UTC maps years 0–99 to 1900–1999
    ['1969-12', 'INVALID_PERIOD'],
    ['2026-01', 'PERIOD_BEFORE_ORDERS'], // the first order is from September 2026
  ] as const) {
    const response = await post({ period })
    t.equal(response.statusCode, 400, period)
    t.equal(response.json().code, code, period)
  }
  t.same(await grades(), before, 'no user regraded')
  t.equal((await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM batch_runs'))[0][0]?.n, 0, 'no run recorded')

  const preview = await post({ period }, '?dryRun=true')
  t.equal(preview.statusCode, 200, 'a dry run answers the plan')
  const plan = preview.json()
  t.match(plan, { period, dryRun: true, targets: Number, chunks: Math.ceil(plan.targets / 10) })
  t.equal(
    plan.moves.reduce((sum: number, move: { users: number }) => sum + move.users, 0),
    plan.targets,
    'every target moves from one grade to one grade',
  )
  t.same(await grades(), before, 'a dry run writes nothing')
  t.equal((await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM batch_runs'))[0][0]?.n, 0)

  const run = await completed(app, (await post({ period })).headers.location as string)
  t.equal(run.targets, plan.targets, 'the run planned what the dry run said')
  const older = await post({ period: '2026-09' })
  t.equal(older.statusCode, 400, 'older than the latest COMPLETED run')
  t.equal(older.json().code, 'PERIOD_SUPERSEDED')
  t.equal((await post({ period: '2026-09', force: true })).json().code, 'VALIDATION', 'force without a reason')
  const forced = await post({ period: '2026-09', force: true, reason: 'regrade after the September refund fix (ticket 123)' })
  t.equal(forced.statusCode, 202)
  t.equal(forced.json().forceReason, 'regrade after the September refund fix (ticket 123)', 'the reason is recorded on the run')
})
