import t from 'tap'
import { createPool } from '@commerce/db'
import { createTestDatabase } from '@commerce/db/testing'
import { testEnv } from '@commerce/kit/testing'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'
import { giveOldCoupon, requestRedemption } from '../src/testing.ts'

/** name{labels} → value, from a /metrics text. */
function samples(text: string): Map<string, number> {
  const values = new Map<string, number>()
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line)
    if (match) values.set(`${match[1]}${(match[2] ?? '').replace(/,?service="batch-worker"/, '').replace('{}', '')}`, Number(match[3]))
  }
  return values
}

t.test('/metrics: the open run and the deferred redemptions from the database; a failed read leaves them stale, /metrics answers', async (t) => {
  const url = await createTestDatabase(t)
  const pool = createPool({ url, role: 'tool', connectionLimit: 2 })
  t.teardown(() => pool.end())
  const warnings: string[] = []
  const config = loadServiceConfig(testEnv(url, { BATCH_SCHEDULE_ENABLED: 'false', EVENT_SCHEDULE_ENABLED: 'false', BATCH_RUN_DEADLINE_MS: '5400000' }))
  const app = await buildApp({ config, logger: { level: 'warn', stream: { write: (line: string) => warnings.push(line) } } })
  t.teardown(() => app.close())
  await app.ready()
  const scrape = async () => {
    const response = await app.inject('/metrics')
    t.equal(response.statusCode, 200, '/metrics answers')
    return samples(response.body)
  }

  t.match(
    Object.fromEntries(await scrape()),
    {
      batch_run_open_age_seconds: 0,
      batch_run_progress_ratio: 0,
      batch_run_deadline_seconds: 5400,
      coupon_redemptions_pending: 0,
      coupon_redemptions_oldest_pending_seconds: 0,
      coupon_redemptions_resolved_last_minute: 0,
      'batch_gauge_read_failures_total{gauges="open-run"}': 0,
      'batch_gauge_read_failures_total{gauges="redemptions"}': 0,
    },
    'nothing open, nothing pending: 0, never over a bound',
  )

  // A strategy this daemon does not have: it leaves the run alone (plugins/runner.ts), the gauges still see it.
  await pool.query(
    `INSERT INTO batch_runs (job, period, strategy, status, chunk_count, requested_at)
     VALUES ('monthly-grade', '2026-10', 'elsewhere', 'RUNNING', 4, NOW(6) - INTERVAL 120 SECOND)`,
  )
  await pool.query("INSERT INTO step_execution_log (run_id, step, chunk_no, status) SELECT id, 'grade', 0, 'DONE' FROM batch_runs")
  const coupon = await giveOldCoupon(pool, 1)
  await requestRedemption(pool, 1, coupon, 'gauges-a')
  await requestRedemption(pool, 1, coupon, 'gauges-b')
  await pool.query("UPDATE coupon_redemptions SET requested_at = NOW(6) - INTERVAL 300 SECOND WHERE idempotency_key = 'gauges-a'")
  await pool.query("UPDATE coupon_redemptions SET status = 'REDEEMED', resolved_at = NOW(6) WHERE idempotency_key = 'gauges-b'")

  const open = await scrape()
  t.ok(open.get('batch_run_open_age_seconds')! >= 120 && open.get('batch_run_open_age_seconds')! < 130, `run age ${open.get('batch_run_open_age_seconds')}`)
  t.equal(open.get('batch_run_progress_ratio'), 0.25, '1 of 4 chunks DONE')
  t.equal(open.get('coupon_redemptions_pending'), 1)
  const oldest = open.get('coupon_redemptions_oldest_pending_seconds')!
  t.ok(oldest >= 300 && oldest < 310, `oldest PENDING ${oldest} s`)
  t.equal(open.get('coupon_redemptions_resolved_last_minute'), 1)

  // The redemptions' read fails: /metrics still answers, those gauges keep their values, the run's move on.
  await pool.query('RENAME TABLE coupon_redemptions TO coupon_redemptions_away')
  await pool.query("INSERT INTO step_execution_log (run_id, step, chunk_no, status) SELECT id, 'grade', 1, 'DONE' FROM batch_runs")
  const moved = await scrape()
  t.equal(moved.get('batch_run_progress_ratio'), 0.5, 'the run gauges still read')
  t.equal(moved.get('coupon_redemptions_pending'), 1, 'stale, not 0')
  t.equal(moved.get('coupon_redemptions_oldest_pending_seconds'), oldest, 'stale: the last value read')
  t.equal(moved.get('batch_gauge_read_failures_total{gauges="redemptions"}'), 1, 'the failed read counted (once for its three gauges)')
  t.equal(moved.get('batch_gauge_read_failures_total{gauges="open-run"}'), 0)
  t.equal(warnings.filter((line) => line.includes('"gauges":"redemptions"')).length, 1, 'and logged once')

  await pool.query('RENAME TABLE coupon_redemptions_away TO coupon_redemptions')
  await scrape()
  t.equal((await scrape()).get('batch_gauge_read_failures_total{gauges="redemptions"}'), 1, 'no failure once the table is back')
  const back = await scrape()
  t.ok(back.get('coupon_redemptions_oldest_pending_seconds')! > oldest, 'read again once the table is back')
})
