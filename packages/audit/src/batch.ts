import type { Pool, RowDataPacket, Rows } from '@commerce/db'
import { parsePeriod, defaultBusinessTimeZone, type GradePolicy } from '@commerce/domain'

export interface AuditCheck {
  name: string
  ok: boolean
  /** What was found; on failure, enough to start looking (counts and a few example ids). */
  detail: string
}

export interface AuditResult {
  ok: boolean
  checks: AuditCheck[]
}

/**
 * Every user's expected grade for the month [start, end) (UTC literals), recomputed from the raw
 * orders. Grouped by the primary key alone, so users are read in key order and each group ends
 * as the next begins; grouping by (id, grade) made the server build and sort a temporary table
 * of every user, which outgrew memory at 300k users and made the auditor superlinear
 * (docs/BENCHMARKS.md, "Scale").
 */
export function expectedGradesQuery(start: string, end: string, thresholds: GradePolicy['thresholds']): string {
  const total = 'COALESCE(SUM(o.amount), 0)'
  return `
    SELECT u.id, MIN(u.grade) AS grade,
           CASE WHEN ${total} >= ${Number(thresholds.VIP)} THEN 'VIP'
                WHEN ${total} >= ${Number(thresholds.GOLD)} THEN 'GOLD'
                WHEN ${total} >= ${Number(thresholds.SILVER)} THEN 'SILVER' ELSE 'BRONZE' END AS expected_grade,
           ${total} AS total, COUNT(o.id) AS order_count
    FROM users u LEFT JOIN orders o ON o.user_id = u.id AND o.status = 'PAID' AND o.ordered_at >= '${start}' AND o.ordered_at < '${end}'
    GROUP BY u.id`
}

/**
 * Checks DESIGN §9 invariants 1, 2, 3 and 5 for one monthly run, from scratch: it recomputes
 * every grade from `orders` with its own SQL and never reads the job's plan to decide what is
 * right (the plan is only checked for completeness). Read-only.
 */
export async function auditBatch(
  pool: Pool,
  { period, policy, timeZone = defaultBusinessTimeZone }: { period: string; policy: GradePolicy; timeZone?: string },
): Promise<AuditResult> {
  const checks: AuditCheck[] = []
  const { thresholds, coupons } = policy
  const range = parsePeriod(period, timeZone)
  if (!range) throw new RangeError(`period must be YYYY-MM, got "${period}"`)
  // The month's bounds as UTC literals (they are computed, never user text).
  const utc = (date: Date) => date.toISOString().slice(0, 23).replace('T', ' ')
  const [start, end] = [utc(range.start), utc(range.end)]

  async function check(name: string, sql: string, params: unknown[], describe = (n: number) => `${n} violations`): Promise<void> {
    const [rows] = await pool.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n, SUBSTRING_INDEX(GROUP_CONCAT(id ORDER BY id), ',', 5) AS examples FROM (${sql}) v`,
      params,
    )
    const n = Number(rows[0]?.n ?? 0)
    checks.push({ name, ok: n === 0, detail: n === 0 ? 'ok' : `${describe(n)}; e.g. ${String(rows[0]?.examples)}` })
  }

  const expected = expectedGradesQuery(start, end, thresholds)
  const policyCount = `CASE e.expected_grade ${Object.entries(coupons)
    .map(([grade, rule]) => `WHEN '${grade}' THEN ${Number(rule.count)}`)
    .join(' ')} END`
  const policyAmount = `CASE e.expected_grade ${Object.entries(coupons)
    .map(([grade, rule]) => `WHEN '${grade}' THEN ${Number(rule.amount)}`)
    .join(' ')} END`
  const couponGrades =
    Object.entries(coupons)
      .filter(([, rule]) => rule.count > 0)
      .map(([grade]) => `'${grade}'`)
      .join(',') || "''"

  const [runs] = await pool.query<RowDataPacket[]>(`SELECT id, status, chunk_count, target_count FROM batch_runs WHERE job = 'monthly-grade' AND period = ?`, [
    period,
  ])
  const run = runs[0]
  checks.push({ name: 'run COMPLETED', ok: run?.status === 'COMPLETED', detail: run ? `status ${run.status}` : 'no run for the period' })

  await check('1. every grade equals the recomputation', `SELECT e.id FROM (${expected}) e WHERE e.grade <> e.expected_grade`, [])
  await check(
    '1. grade_history: one row per target, with the recomputed grade and totals',
    `SELECT e.id FROM (${expected}) e LEFT JOIN grade_history h ON h.user_id = e.id AND h.period = ?
     WHERE (h.id IS NULL AND (e.expected_grade IN (${couponGrades})))
        OR (h.id IS NOT NULL AND (h.to_grade <> e.expected_grade OR h.total <> e.total OR h.order_count <> e.order_count
                                  OR (h.from_grade = h.to_grade AND h.to_grade NOT IN (${couponGrades}))))`,
    [period],
  )
  await check(
    '2. grade coupons: exactly the policy count and amount per user for the period',
    `SELECT e.id FROM (${expected}) e
     LEFT JOIN (SELECT user_id, COUNT(*) AS n, COUNT(DISTINCT slot) AS slots, MIN(amount) AS lo, MAX(amount) AS hi, MAX(slot) AS top
                FROM coupons WHERE kind = 'GRADE' AND period = ? GROUP BY user_id) c ON c.user_id = e.id
     WHERE COALESCE(c.n, 0) <> ${policyCount} OR (c.n > 0 AND (c.slots <> c.n OR c.top <> c.n OR c.lo <> ${policyAmount} OR c.hi <> ${policyAmount}))`,
    [period],
  )
  await check('2. no coupon both REDEEMED and REVOKED', `SELECT HEX(id) AS id FROM coupons WHERE status = 'REDEEMED' AND revoked_at IS NOT NULL`, [])
  await check(
    '2. targets hold no ISSUED grade coupon of an earlier period',
    `SELECT DISTINCT c.user_id AS id FROM coupons c JOIN grade_history h ON h.user_id = c.user_id AND h.period = ?
     WHERE c.kind = 'GRADE' AND c.period < ? AND c.status = 'ISSUED'`,
    [period, period],
  )
  if (run) {
    await check(
      '3. no redemption left PENDING once its chunk is DONE',
      `SELECT HEX(r.id) AS id FROM coupon_redemptions r
       JOIN batch_targets t ON t.user_id = r.user_id AND t.run_id = ?
       JOIN step_execution_log s ON s.run_id = t.run_id AND s.chunk_no = t.chunk_no AND s.status = 'DONE'
       WHERE r.status = 'PENDING'`,
      [run.id],
    )
  }
  await check(
    '3. every REDEEMED request redeemed its coupon; every REJECTED one says why',
    `SELECT HEX(r.id) AS id FROM coupon_redemptions r LEFT JOIN coupons c ON c.id = r.coupon_id
     WHERE (r.status = 'REDEEMED' AND (c.id IS NULL OR c.status <> 'REDEEMED')) OR (r.status = 'REJECTED' AND r.reason IS NULL)`,
    [],
  )
  await check(
    '3. a coupon is redeemed by at most one request',
    `SELECT HEX(coupon_id) AS id FROM coupon_redemptions WHERE status = 'REDEEMED' GROUP BY coupon_id HAVING COUNT(*) > 1`,
    [],
  )
  if (run) {
    // Aggregates: COUNT is a number, SUM a DECIMAL string, MIN/MAX NULL over no rows; read through Number().
    const [[c]] = await pool.query<Rows<Record<'n' | 'done' | 'distinct_chunks' | 'lo' | 'hi', number | string | null>>>(
      `SELECT COUNT(*) AS n, SUM(status = 'DONE') AS done, COUNT(DISTINCT chunk_no) AS distinct_chunks, MIN(chunk_no) AS lo, MAX(chunk_no) AS hi
       FROM step_execution_log WHERE run_id = ?`,
      [run.id],
    )
    const expectedChunks = Number(run.chunk_count ?? 0)
    const ok =
      Number(c?.n) === expectedChunks &&
      Number(c?.done ?? 0) === expectedChunks &&
      Number(c?.distinct_chunks) === expectedChunks &&
      (expectedChunks === 0 || (Number(c?.lo) === 0 && Number(c?.hi) === expectedChunks - 1))
    checks.push({
      name: '5. every chunk of the plan DONE exactly once',
      ok,
      detail: `${Number(c?.done ?? 0)}/${expectedChunks} chunks DONE, ${Number(c?.n)} rows`,
    })
    const [[p]] = await pool.query<Rows<{ targets: number; history: number }>>(
      `SELECT (SELECT COUNT(*) FROM batch_targets WHERE run_id = ?) AS targets, (SELECT COUNT(*) FROM grade_history WHERE period = ?) AS history`,
      [run.id, period],
    )
    const same = Number(p?.targets) === Number(run.target_count) && Number(p?.history) === Number(run.target_count)
    checks.push({
      name: '5. targets planned = targets graded',
      ok: same,
      detail: `plan ${Number(run.target_count)}, batch_targets ${Number(p?.targets)}, grade_history ${Number(p?.history)}`,
    })
  }
  return { ok: checks.every((c) => c.ok), checks }
}

/** A failed audit as one readable block (tests print it; benchmarks store it). */
export function formatAudit(result: AuditResult): string {
  return result.checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`).join('\n')
}
