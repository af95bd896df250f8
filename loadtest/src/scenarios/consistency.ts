import { setTimeout as sleep } from 'node:timers/promises'
import { Pool as HttpPool } from 'undici'
import { auditBatch, formatAudit } from '@commerce/audit'
import type { RowDataPacket } from '@commerce/db'
import { defaultGradePolicy } from '@commerce/domain'
import { signToken } from '@commerce/kit'
import { readRunProgress, startBatchWorker } from '@commerce/local/batch'
import { localAuthSecret } from '@commerce/local/secret'
import { startStack } from '@commerce/local/stack'
import { awaitDeferred, couponIdOf, giveOldCoupons, livePeriod } from '../live-mix.ts'
import { machineInfo, markdownTable, writeReport } from '../report.ts'
import { statusCounts } from '../stats.ts'
import { resetBatchState, seededDatabase } from './batch.ts'

// `npm run bench -- consistency`: the write-up's "same user, parallel requests" test. While the
// monthly batch runs on 2 workers, `users` coupon holders each get `parallel` simultaneous
// redemptions of their coupon through nginx (half replaying one Idempotency-Key, half with keys
// of their own), round after round until the run completes. Must hold: no 5xx, every replay of
// a key gets the same redemption, every 202 resolves, each coupon ends REDEEMED (by one request)
// xor REVOKED, and the batch audit passes.
export interface ConsistencyOptions {
  baseUrl: string
  users: number
  orders: number
  /** Coupon holders hammered in each round. */
  connections: number
  /** Simultaneous redemptions per user per round. */
  loops: number
  log: (line: string) => void
}

interface Answer {
  userId: number
  key: string
  status: number
  /** redemptionId for 200/202, the error code otherwise. */
  outcome: string
}

export async function benchConsistency(options: ConsistencyOptions): Promise<string> {
  const { log } = options
  log(`seeding ${options.users.toLocaleString('en')} users / ${options.orders.toLocaleString('en')} orders`)
  const db = await seededDatabase(options.baseUrl, 'bench_consistency', options.users, options.orders)
  const machine = await machineInfo(db.pool)
  await resetBatchState(db.pool)
  await giveOldCoupons(db.pool, options.users)
  const holders = Math.floor(options.users / 3)
  const chosen = Array.from(
    { length: Math.min(options.connections, holders) },
    (_, i) => 3 * (1 + Math.floor((i * holders) / Math.min(options.connections, holders))),
  )
  const secret = localAuthSecret()
  const tokens = new Map(chosen.map((userId) => [userId, `Bearer ${signToken(secret, { userId, role: 'user' })}`]))

  const stack = await startStack({ replicas: 2, batchWorkers: 0, databaseUrl: db.url, env: { LOG_LEVEL: 'warn' } })
  const http = new HttpPool(stack.url, { connections: 256 })
  const answers: Answer[] = []
  let rounds = 0
  let inBatchRounds = 0
  try {
    const redeem = async (userId: number, key: string): Promise<Answer> => {
      const response = await http.request({
        method: 'POST',
        path: `/coupons/${couponIdOf(userId)}/redeem`,
        headers: { authorization: tokens.get(userId)!, 'idempotency-key': key },
      })
      const body = (await response.body.json().catch(() => ({}))) as { redemptionId?: string; code?: string }
      return { userId, key, status: response.statusCode, outcome: body.redemptionId ?? body.code ?? 'none' }
    }
    log(`  batch on 2 workers; ${chosen.length} users × ${options.loops} simultaneous redemptions per round until it completes`)
    const workers = [0, 1].map((index) => startBatchWorker(index, { databaseUrl: db.url, period: livePeriod, env: { LOG_LEVEL: 'warn' } }))
    let finished = false
    const done = Promise.all(workers.map((w) => w.finished)).finally(() => (finished = true))
    // The first round goes out as soon as the run is RUNNING (chunks published to the guards).
    while (!finished && (await readRunProgress(db.pool, { period: livePeriod }))?.status !== 'RUNNING') await sleep(20)
    while (!finished || rounds === 0) {
      const status = await readRunProgress(db.pool, { period: livePeriod })
      if (status?.status === 'RUNNING') inBatchRounds += 1
      rounds += 1
      const round = await Promise.all(
        chosen.flatMap((userId) =>
          Array.from({ length: options.loops }, (_, i) => redeem(userId, i % 2 === 0 ? `same-${userId}` : `own-${userId}-${rounds}-${i}`)),
        ),
      )
      answers.push(...round)
      await Promise.race([sleep(50), done])
    }
    const results = await done
    if (results.some((r) => r.code !== 0)) throw new Error(`a batch worker failed; see ${workers.map((w) => w.logFile).join(', ')}`)
  } finally {
    await http.close()
    await stack.stop({ stopDatabase: false })
  }

  const deferred = await awaitDeferred(db.pool, [...new Set(answers.filter((a) => a.status === 202).map((a) => a.outcome))])
  // Replays of one key answer for one redemption: its id while PENDING (202) or once REDEEMED
  // (200), its reason once REJECTED (409) — never a second redemption, never another outcome.
  const [stored] = await db.pool.query<RowDataPacket[]>(
    "SELECT idempotency_key AS k, LOWER(INSERT(INSERT(INSERT(INSERT(HEX(id), 9, 0, '-'), 14, 0, '-'), 19, 0, '-'), 24, 0, '-')) AS id, status, reason FROM coupon_redemptions WHERE idempotency_key LIKE 'same-%'",
  )
  const storedByKey = new Map(
    stored.map((row) => [String(row.k), { id: String(row.id), status: String(row.status), reason: row.reason === null ? null : String(row.reason) }]),
  )
  const agrees = (a: Answer) => {
    const row = storedByKey.get(a.key)
    if (!row) return a.status === 409 || a.status === 404
    if (a.status === 202) return a.outcome === row.id
    if (a.status === 200) return a.outcome === row.id && row.status === 'REDEEMED'
    return a.status === 409 && row.status === 'REJECTED' && a.outcome === row.reason
  }
  const replays = answers.filter((a) => a.key.startsWith('same-'))
  const disagreeing = replays.filter((a) => !agrees(a))
  const inconsistent = [...new Set(disagreeing.map((a) => a.key))].map((key) => ({
    key,
    stored: storedByKey.get(key) ?? null,
    answers: replays.filter((a) => a.key === key).map((a) => `${a.status} ${a.outcome}`),
  }))
  const inconsistentKeys = inconsistent.length
  const replayedKeys = new Set(replays.map((a) => a.key)).size
  if (inconsistentKeys > 0) log(`  replays disagreeing with their redemption: ${JSON.stringify(inconsistent.slice(0, 3))}`)
  const [coupons] = await db.pool.query<RowDataPacket[]>(
    `SELECT c.status, COUNT(DISTINCT c.id) AS coupons, COUNT(r.id) AS redeemed_by
       FROM coupons c LEFT JOIN coupon_redemptions r ON r.coupon_id = c.id AND r.status = 'REDEEMED'
      WHERE c.id IN (?) GROUP BY c.status ORDER BY c.status`,
    [chosen.map((userId) => Buffer.from(couponIdOf(userId).replaceAll('-', ''), 'hex'))],
  )
  const audit = await auditBatch(db.pool, { period: livePeriod, policy: defaultGradePolicy })
  await db.pool.end()
  log(formatAudit(audit))

  const statuses = statusCounts(answers)
  const status5xx = answers.filter((a) => a.status >= 500).length
  const endStates = coupons
    .map((row) => `${row.status}: ${row.coupons} (redeemed by ${row.redeemed_by} request${Number(row.redeemed_by) === 1 ? '' : 's'})`)
    .join(', ')
  const rows = [
    { check: 'requests', result: `${answers.length.toLocaleString('en')} in ${rounds} rounds (${inBatchRounds} began while the run was RUNNING)` },
    {
      check: 'statuses',
      result: Object.entries(statuses)
        .map(([status, n]) => `${n} × ${status}`)
        .join(', '),
    },
    { check: '5xx', result: String(status5xx) },
    {
      check: 'Idempotency-Keys whose replays disagree with their one redemption',
      result: `${inconsistentKeys} of ${replayedKeys} (${replays.length.toLocaleString('en')} replays)`,
    },
    {
      check: 'deferred redemptions (202) resolved',
      result: `${deferred.count - deferred.pendingLeft} of ${deferred.count}; median ${deferred.medianSeconds.toFixed(2)} s, max ${deferred.maxSeconds.toFixed(2)} s after the request`,
    },
    { check: 'coupons afterwards', result: endStates },
    { check: 'batch audit', result: audit.ok ? 'ok' : 'FAILED' },
  ]
  const markdown = [
    `# Consistency during the batch — ${machine.date}`,
    '',
    `Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.database}. ${options.users.toLocaleString('en')} users / ${options.orders.toLocaleString('en')} orders, 2 replicas per API behind nginx, the ${livePeriod} batch on 2 worker processes.`,
    `${chosen.length} coupon holders × ${options.loops} simultaneous redemptions of their own coupon per round (half replay one Idempotency-Key per user, half use fresh keys), rounds back to back until the run completed.`,
    '',
    markdownTable(rows),
  ].join('\n')
  const dir = writeReport(
    'consistency',
    { machine, options: { ...options, log: undefined }, rounds, inBatchRounds, statuses, inconsistent, deferred, coupons, audit: audit.ok },
    markdown,
  )
  log(markdown)
  const redeemedTwice = coupons.some((row) => Number(row.redeemed_by) > Number(row.coupons))
  if (status5xx > 0 || inconsistentKeys > 0 || deferred.pendingLeft > 0 || redeemedTwice || !audit.ok || inBatchRounds === 0) {
    throw new Error(`the consistency scenario failed a check${inBatchRounds === 0 ? ' (no round ran during the batch)' : ''}; see ${dir}`)
  }
  return dir
}
