import t, { type Test } from 'tap'
import { inTransaction, type Pool, type ResultSetHeader, type RowDataPacket } from '@commerce/db'
import { bearer, testEnv } from '@commerce/kit/testing'
import { buildApp } from '../../src/app.ts'
import { loadServiceConfig } from '../../src/config.ts'
import { openRun } from '../../src/job/admission.ts'
import { builtInStrategies } from '../../src/job/chunks.ts'
import { createRunRepository, insertRun, monthlyJob } from '../../src/job/runs.ts'
import { runWorker } from '../../src/job/worker.ts'
import { member, settings, testDatabase } from '../../src/testing.ts'

// Admission through the daemon's route (POST /runs): which requests may create a run, and how two
// at once are decided. The seeded orders start in September 2026; the clock is in December, so
// September, October and November have all ended. The daemon never polls here: runs stay REQUESTED.
const quiet = { BATCH_SCHEDULE_ENABLED: 'false', EVENT_SCHEDULE_ENABLED: 'false', BATCH_DAEMON_POLL_MS: '600000', EVENT_POLL_MS: '600000' }
const december = async () => new Date('2026-12-05T00:00:00Z')

async function daemon(t: Test) {
  const { url, pool } = await testDatabase(t, 5)
  const app = await buildApp({ config: loadServiceConfig(testEnv(url, quiet)), logger: false, clock: december })
  t.teardown(() => app.close())
  await app.ready()
  const post = (payload: object, query = '') => app.inject({ method: 'POST', url: `/runs${query}`, payload, headers: bearer(1, 'admin') })
  return { url, pool, post }
}

const periods = async (pool: Pool) => (await pool.query<RowDataPacket[]>('SELECT period FROM batch_runs ORDER BY id'))[0].map((row) => row.period as string)

/** Some statement of this test's database is waiting for a row lock. */
async function lockWaiting(pool: Pool): Promise<boolean> {
  const [[row]] = (await pool.query<RowDataPacket[]>(
    `SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX x JOIN information_schema.PROCESSLIST p ON p.ID = x.trx_mysql_thread_id
     WHERE x.trx_state = 'LOCK WAIT' AND p.DB = DATABASE()`,
  )) as [RowDataPacket[], unknown]
  return Number(row?.n) > 0
}

/**
 * `request` sent while another admission of `heldPeriod` has run its statement and not committed
 * yet: whether `request` answered before that commit (it did not wait for it), and its answer.
 */
async function againstHeldAdmission(pool: Pool, heldPeriod: string, request: () => ReturnType<Awaited<ReturnType<typeof daemon>>['post']>) {
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let inserted!: () => void
  const insertDone = new Promise<void>((resolve) => (inserted = resolve))
  const held = inTransaction(
    pool,
    async (conn) => {
      await insertRun(conn, { period: heldPeriod, strategy: 'bulk', forceReason: null })
      inserted()
      await released
      return true
    },
    { isolation: 'REPEATABLE READ' },
  )
  await insertDone
  let answered = false
  const answer = request().finally(() => (answered = true))
  // Until the request either answers or waits on the held admission's locks (no timing guess).
  // Polled more than 100 ms apart: InnoDB refreshes INNODB_TRX only when it was not read for that long.
  while (!answered && !(await lockWaiting(pool))) await new Promise((resolve) => setTimeout(resolve, 150))
  const answeredBeforeCommit = answered
  release()
  await held
  return { answeredBeforeCommit, response: await answer }
}

t.test('a period older than any run, in any state, needs force (not only older than a COMPLETED one)', async (t) => {
  const { pool, post } = await daemon(t)
  t.equal((await post({ period: '2026-11' })).statusCode, 202)
  // 2026-11 is REQUESTED: it has not completed, yet 2026-10 finishing after it would regrade everyone to October.
  for (const query of ['', '?dryRun=true']) {
    const older = await post({ period: '2026-10' }, query)
    t.same([older.statusCode, older.json().code], [400, 'PERIOD_SUPERSEDED'], `older than a REQUESTED run ${query}`)
    t.match(older.json().message, /2026-11/, 'the refusal names the newer run')
  }
  t.same(await periods(pool), ['2026-11'], 'nothing written')
  const forced = await post({ period: '2026-10', force: true, reason: 'rerun October after the refund fix' })
  t.same([forced.statusCode, forced.json().forceReason], [202, 'rerun October after the refund fix'], 'forced, with its reason')
  t.equal((await post({ period: '2026-10' })).statusCode, 202, 'and requesting it again joins it')
  t.same(await periods(pool), ['2026-11', '2026-10'])
})

t.test('an older period requested while a newer one is being admitted waits for it, then is refused', async (t) => {
  const { pool, post } = await daemon(t)
  const { answeredBeforeCommit, response } = await againstHeldAdmission(pool, '2026-11', () => post({ period: '2026-10' }))
  t.notOk(answeredBeforeCommit, 'the 2026-10 admission waited for the uncommitted 2026-11 one')
  t.same([response.statusCode, response.json().code], [400, 'PERIOD_SUPERSEDED'])
  t.same(await periods(pool), ['2026-11'], '2026-10 was not created after 2026-11')
})

t.test('a newer period requested while an older one is being admitted waits for it, then is created after it', async (t) => {
  const { pool, post } = await daemon(t)
  const { answeredBeforeCommit, response } = await againstHeldAdmission(pool, '2026-10', () => post({ period: '2026-11' }))
  t.notOk(answeredBeforeCommit, 'the 2026-11 admission waited for the uncommitted 2026-10 one')
  t.equal(response.statusCode, 202)
  t.same(await periods(pool), ['2026-10', '2026-11'], 'created in period order')
})

t.test('two periods requested at once, many times: never a 5xx, and the older one never created once the newer exists', async (t) => {
  const { pool, post } = await daemon(t)
  for (let round = 0; round < 15; round++) {
    await pool.query('DELETE FROM batch_runs')
    const [older, newer] = await Promise.all([post({ period: '2026-10' }), post({ period: '2026-11' })])
    t.equal(newer.statusCode, 202, `round ${round}: the newer is always admitted`)
    // Either the older came first (both created, in that order) or it came second and was refused.
    if (older.statusCode === 202) t.same(await periods(pool), ['2026-10', '2026-11'], `round ${round}: both, older first`)
    else t.same([older.statusCode, older.json().code, await periods(pool)], [400, 'PERIOD_SUPERSEDED', ['2026-11']], `round ${round}: refused`)
  }
})

/**
 * A run REQUESTED `ago` with a strategy no worker here has: left an hour ago, by a benchmark whose
 * worker died before planning or by a version that took any name; just now, a benchmark's about to be planned.
 */
async function foreignRun(pool: Pool, period: string, strategy: string, ago: 'an hour ago' | 'just now' = 'an hour ago'): Promise<number> {
  const [inserted] = await pool.query<ResultSetHeader>(
    "INSERT INTO batch_runs (job, period, strategy, status, requested_at) VALUES (?, ?, ?, 'REQUESTED', NOW(6) - INTERVAL ? SECOND)",
    [monthlyJob, period, strategy, ago === 'an hour ago' ? 3_600 : 0],
  )
  return inserted.insertId
}

const strategyOf = async (pool: Pool, id: number) =>
  (await pool.query<RowDataPacket[]>('SELECT strategy FROM batch_runs WHERE id = ?', [id]))[0][0]?.strategy as string

t.test('a strategy named after an Object.prototype member is unknown, not a run nobody serves', async (t) => {
  const { pool, post } = await daemon(t)
  // The only one the name pattern lets through; the others are refused as VALIDATION before any lookup.
  const refused = await post({ period: '2026-10', strategy: 'constructor' })
  t.same([refused.statusCode, refused.json().code], [400, 'UNKNOWN_STRATEGY'])
  t.same(await periods(pool), [], 'no run recorded')
})

t.test(
  'a run left REQUESTED a plan lease with a strategy the requester lacks is taken over by the request; a fresh one or one in progress is joined',
  async (t) => {
    const { pool, post } = await daemon(t)
    const dead = await foreignRun(pool, '2026-10', 'constructor')
    const preview = await post({ period: '2026-10' }, '?dryRun=true')
    t.equal(preview.statusCode, 200)
    t.equal(await strategyOf(pool, dead), 'constructor', 'a dry run takes nothing over')
    const taken = await post({ period: '2026-10' })
    t.same([taken.statusCode, taken.json().id, taken.json().strategy], [202, dead, 'bulk'], 'the period is served again, by the same run')
    t.equal(await strategyOf(pool, dead), 'bulk')

    // A run a worker has started planning is in hand: it is joined, whatever its strategy.
    const planning = await foreignRun(pool, '2026-11', 'naive')
    await pool.query("UPDATE batch_runs SET status = 'PLANNING' WHERE id = ?", [planning])
    const joined = await post({ period: '2026-11' })
    t.same([joined.statusCode, joined.json().strategy], [202, 'naive'])
    // Requested just now: its own workers may be about to plan it.
    const fresh = await foreignRun(pool, '2026-09', 'naive', 'just now')
    const left = await post({ period: '2026-09' })
    t.same([left.statusCode, left.json().id, left.json().strategy], [202, fresh, 'naive'])
  },
)

t.test('a planning claim holds only for the strategy the worker read: a takeover in between makes it fail', async (t) => {
  const { pool } = await testDatabase(t, 1)
  const runs = createRunRepository(pool)
  const dead = await foreignRun(pool, '2026-10', 'naive')
  // Another request took the run over after this worker read it as `naive`.
  t.ok(await runs.takeOver(dead, 'naive', 'bulk', 60_000), 'taken over')
  t.notOk(await runs.takeOver(dead, 'naive', 'spare', 60_000), 'once: the second finds another strategy')
  const me = '0190a000-0000-7000-8000-000000000001'
  t.notOk(await runs.claimPlanning(dead, me, 1_000, 'naive'), 'the worker that read naive does not plan it')
  t.ok(await runs.claimPlanning(dead, me, 1_000, 'bulk'))
  t.notOk(await runs.takeOver(dead, 'bulk', 'naive', 60_000), 'a run being planned is not taken over')
})

t.test('a one-shot worker for a period held by a dead run takes it over and completes it', async (t) => {
  const { url, pool } = await testDatabase(t, 30)
  const dead = await foreignRun(pool, '2026-10', 'naive')
  const { pool: workerPool, membership } = await member(t, url)
  const report = await runWorker({ pool: workerPool, membership, period: '2026-10', strategy: 'bulk', settings })
  t.match(report, { runId: dead, strategy: 'bulk', status: 'COMPLETED', planned: true })
})

t.test('force and its reason: one rule on every path — a trimmed reason of 10 to 500 characters, only with force', async (t) => {
  const { pool, post } = await daemon(t)
  for (const query of ['', '?dryRun=true']) {
    for (const [body, message] of [
      [{ force: true, reason: ' '.repeat(10) }, /force needs a reason/],
      [{ force: true, reason: `  ${'x'.repeat(9)}  ` }, /force needs a reason/],
      [{ force: true, reason: 'x'.repeat(501) }, /force needs a reason/],
      [{ force: true }, /force needs a reason/],
      [{ reason: 'a reason without force' }, /a reason goes with force/],
      [{ force: false, reason: 'a reason without force' }, /a reason goes with force/],
    ] as const) {
      const response = await post({ period: '2026-10', ...body }, query)
      t.same([response.statusCode, response.json().code], [400, 'VALIDATION'], `${JSON.stringify(body)} ${query}`)
      t.match(response.json().message, message)
    }
  }
  t.same(await periods(pool), [], 'no run recorded')
  const forced = await post({ period: '2026-10', force: true, reason: `  ${'x'.repeat(500)}  ` })
  t.same([forced.statusCode, forced.json().forceReason], [202, 'x'.repeat(500)], 'recorded trimmed')
})

t.test('openRun itself refuses a blank reason (the last line of defence for every caller)', async (t) => {
  const { pool } = await testDatabase(t, 1)
  const opts = { strategy: 'bulk', strategies: builtInStrategies, orphanedAfterMs: 60_000, publishDelayMs: 0, timeZone: settings.timeZone, now: december }
  await t.rejects(openRun(pool, createRunRepository(pool), { period: '2026-10', force: true, reason: ' '.repeat(12) }, opts), { code: 'VALIDATION' })
  t.same(await periods(pool), [])
})
