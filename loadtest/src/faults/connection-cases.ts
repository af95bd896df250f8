import { setTimeout as sleep } from 'node:timers/promises'
import type { RowDataPacket } from '@commerce/db'
import type { ServiceName } from '@commerce/kit'
import { waitFor } from '@commerce/local/process'
import { comQuery, startTcpRelay, type TcpRelay } from '@commerce/local/tcp-proxy'
import { auditCase, caseCharts, clientFigures, completedRun, formatFigures, readyStatus, requestRun, startTraffic, suiteEnv, type FaultBed } from './bed.ts'
import { auditHeld, finish, held, withBed, type FaultCaseResult, type FaultContext } from './cases.ts'

// Cases 7 and 8: one database connection lost the way a dead host loses it — the server has the
// transaction's statements, never its COMMIT, and hears nothing more (no FIN, no RST). One
// service's replicas reach MariaDB through a relay (infra/local/src/tcp-proxy.ts) that drops one
// chosen connection at a chosen statement; everyone else goes on as before.

/** The bed, with `service`'s replicas going through a relay of their own. */
async function withRelayedBed<T>(
  ctx: FaultContext,
  name: string,
  service: ServiceName,
  env: Record<string, string>,
  body: (bed: FaultBed, relay: TcpRelay) => Promise<T>,
): Promise<T> {
  const relay = await startTcpRelay({ listenHost: '127.0.0.1', targetPort: ctx.server.port })
  const relayed = new URL(ctx.server.url(name))
  relayed.port = String(relay.port)
  try {
    return await withBed(ctx, name, { env, serviceEnv: { [service]: { DATABASE_URL: relayed.toString() } } }, (bed) => body(bed, relay))
  } finally {
    await relay.close()
  }
}

/**
 * Transactions whose session has sat idle over 500 ms, their connections and the rows they wrote (locked until
 * they end): a live request's or chunk's transaction never waits that long between its statements.
 */
async function idleTransactions(bed: FaultBed): Promise<{ threads: number[]; rowsWritten: number }> {
  const [rows] = await bed.pool.query<RowDataPacket[]>(
    `SELECT t.trx_mysql_thread_id AS thread, t.trx_rows_modified AS written
       FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
      WHERE p.COMMAND = 'Sleep' AND p.TIME_MS > 500`,
  )
  return { threads: rows.map((r) => Number(r.thread)), rowsWritten: rows.reduce((sum, r) => sum + Number(r.written), 0) }
}

/**
 * What the lost connection left open (seen 700 ms after the loss), and when the server rolled it back: the
 * moment those very connections no longer hold a transaction (another transaction idling meanwhile is not it).
 * InnoDB refreshes INNODB_TRX only when nobody has read it for 100 ms, so it is polled less often than that:
 * polled faster it stays frozen, and the check judged a stale copy against the live processlist.
 */
async function watchLostTransaction(bed: FaultBed, lostAt: number) {
  await sleep(Math.max(0, 700 - (performance.now() - lostAt)))
  const left = await idleTransactions(bed)
  await waitFor(
    'the server to roll the lost transaction back',
    async () => {
      const [rows] = await bed.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id IN (?)', [
        left.threads.length > 0 ? left.threads : [0],
      ])
      return Number(rows[0]?.n) === 0
    },
    60_000,
    250,
  )
  return { left: { count: left.threads.length, rowsWritten: left.rowsWritten }, goneAfterMs: performance.now() - lostAt }
}

// ── 7. an API connection lost mid-transaction ─────────────────────────────────────────────

export async function lostApiConnectionCase(ctx: FaultContext): Promise<FaultCaseResult> {
  return withRelayedBed(ctx, 'faults_lost_api', 'coupon-api', {}, async (bed, relay) => {
    const traffic = startTraffic(bed, { rate: ctx.rate, label: `lost-api-${Date.now()}` })
    await sleep(1_000) // a baseline second
    // Every coupon-api transaction ends in COMMIT (a redeem's, a deferred one's, the sweeper's):
    // the first one sent after this point never reaches the server.
    const lost = await relay.blackholeNext((payload) => comQuery(payload) === 'COMMIT')
    const lostAtS = traffic.now()
    bed.log('  a coupon-api connection lost at its COMMIT')
    // The API pool's bounds: 5 s per statement on the client, 5 s idle in a transaction on the server.
    const boundMs = 5_000
    const watched = await watchLostTransaction(bed, lost.at)
    const freedAtS = traffic.now()
    bed.log(`  its transaction (${watched.left.rowsWritten} rows written) rolled back ${(watched.goneAfterMs / 1000).toFixed(1)} s after`)
    await sleep(2_000) // traffic on the freed rows
    const coupon = bed.stack.replicas.filter((r) => r.service === 'coupon-api')
    const ready = await Promise.all(coupon.map((r) => readyStatus(r.port)))
    const runId = await requestRun(bed)
    const run = await completedRun(bed.pool, runId)
    const outcome = await traffic.stop()
    const audit = await auditCase(bed, outcome, { batch: true })
    const all = outcome.result.samples
    const during = clientFigures(all.filter((s) => s.at / 1000 >= lostAtS && s.at / 1000 < freedAtS))
    return finish({
      id: 7,
      name: 'an API connection lost mid-transaction (its COMMIT never arrives)',
      injected: '1 × a coupon-api connection silently dropped at its COMMIT (relay: no FIN, no RST)',
      injections: 1,
      held: [
        held(
          'the lost connection left a transaction open, its written rows locked',
          watched.left.count >= 1 && watched.left.rowsWritten >= 1,
          `${watched.left.count} idle transaction(s), ${watched.left.rowsWritten} rows written, 0.7 s after the loss`,
        ),
        // The margin tells the bound's rollback from a much later end (TCP keepalive, minutes), not speed.
        held(
          `the server rolled it back at its idle-in-transaction bound (${boundMs / 1000} s, +10 s)`,
          watched.goneAfterMs <= boundMs + 10_000,
          `gone ${(watched.goneAfterMs / 1000).toFixed(1)} s after the loss`,
        ),
        held(
          'both coupon-api replicas stayed ready (their other connections served on)',
          ready.every((s) => s === 200),
          `/ready ${ready.join(', ')}`,
        ),
        held(
          'no request hung past its timeout',
          during.max < 10_000 && during.networkErrors === 0,
          `max ${during.max.toFixed(0)} ms, ${during.networkErrors} client timeouts/resets (timeout 10 s)`,
        ),
        auditHeld(audit, /acknowledged/, '0 acknowledged writes lost'),
        auditHeld(audit, /2\. grade coupons|at most one request|one application per phone/, '0 double effects'),
        held('the batch afterwards COMPLETED', run.status === 'COMPLETED', `${run.chunksDone}/${run.chunks} chunks`),
      ],
      clients: clientFigures(all),
      duringFault: during,
      audit: { ok: audit.ok, text: audit.text },
      notes: [
        `From the loss until the rollback: ${formatFigures(during)}.`,
        'Whoever sent the lost COMMIT (a redeem, or the sweeper applying a 202) waits for its answer until the client-side statement timeout (5 s) destroys that connection; a request answers 5xx and is not counted as acknowledged, and nothing of it is applied: the server never saw the COMMIT and rolls the transaction back once it has sat idle 5 s (idle_transaction_timeout), which frees its row locks. A 202 whose application was lost so is applied again by the next sweep.',
      ],
      charts: caseCharts('7. lost API connection', all, [
        { at: lostAtS, label: 'COMMIT lost' },
        { at: freedAtS, label: 'rolled back' },
      ]),
    })
  })
}

// ── 8. a batch connection lost mid-chunk ──────────────────────────────────────────────────

export async function lostBatchConnectionCase(ctx: FaultContext): Promise<FaultCaseResult> {
  // Set-based chunks (their statements are plain queries the relay can read), small and one at a
  // time per worker, so the run has many chunks and the lost one is mid-run.
  const env = { BATCH_STRATEGY: 'bulk', BATCH_CHUNK_SIZE: '25', BATCH_CONCURRENCY: '1' }
  return withRelayedBed(ctx, 'faults_lost_batch', 'batch-worker', env, async (bed, relay) => {
    const leaseMs = Number(suiteEnv.BATCH_LEASE_MS)
    const traffic = startTraffic(bed, { rate: ctx.rate, label: `lost-batch-${Date.now()}` })
    // Mid-chunk: grade_history rows written (and locked), the users' grades not yet.
    const losing = relay.blackholeNext((payload) => comQuery(payload)?.trimStart().startsWith('UPDATE users u JOIN batch_targets') === true)
    const runId = await requestRun(bed)
    const lost = await losing
    const lostAtS = traffic.now()
    const [claimed] = await bed.pool.query<RowDataPacket[]>("SELECT chunk_no, epoch FROM step_execution_log WHERE run_id = ? AND status = 'CLAIMED'", [runId])
    bed.log(`  a batch-worker connection lost mid-chunk (chunks in flight: ${claimed.map((c) => c.chunk_no).join(', ')})`)
    const watched = watchLostTransaction(bed, lost.at)
    watched.catch(() => undefined) // awaited below; not an unhandled rejection meanwhile
    // The lost chunk is among those in flight: each of them must end DONE, the lost one by another worker.
    await waitFor(
      'every chunk in flight at the loss to be DONE',
      async () => {
        const [rows] = await bed.pool.query<RowDataPacket[]>(
          "SELECT COUNT(*) AS n FROM step_execution_log WHERE run_id = ? AND chunk_no IN (?) AND status = 'DONE'",
          [runId, claimed.map((c) => c.chunk_no)],
        )
        return Number(rows[0]?.n) === claimed.length
      },
      60_000,
      20,
    )
    const doneAfterMs = performance.now() - lost.at
    const doneAtS = traffic.now()
    const [takenOver] = await bed.pool.query<RowDataPacket[]>('SELECT chunk_no, epoch FROM step_execution_log WHERE run_id = ? AND chunk_no IN (?)', [
      runId,
      claimed.map((c) => c.chunk_no),
    ])
    const raised = takenOver.filter((row) => Number(row.epoch) > Number(claimed.find((c) => c.chunk_no === row.chunk_no)?.epoch))
    const run = await completedRun(bed.pool, runId)
    const { left, goneAfterMs } = await watched
    const outcome = await traffic.stop()
    const audit = await auditCase(bed, outcome, { batch: true })
    return finish({
      id: 8,
      name: 'a batch connection lost mid-chunk',
      injected: '1 × a batch-worker connection silently dropped mid-chunk, after its grade_history rows (relay: no FIN, no RST)',
      injections: 1,
      held: [
        held(
          "the lost connection left the chunk's transaction open, its written rows locked",
          left.count >= 1 && left.rowsWritten >= 1,
          `${left.count} idle transaction(s), ${left.rowsWritten} rows written, 0.7 s after the loss`,
        ),
        held(
          'another worker took the chunk over (epoch raised)',
          raised.length >= 1,
          `chunk ${raised.map((r) => `${r.chunk_no} → epoch ${r.epoch}`).join(', ') || 'none'}`,
        ),
        // Stuck, it would wait for TCP keepalive (minutes); a takeover also waits for the other
        // worker's pace, which a busy machine stretches: the bound tells the two apart, not speed.
        held(
          `the lost chunk was DONE within a minute past the lease (${leaseMs / 1000} s)`,
          doneAfterMs <= leaseMs + 60_000,
          `DONE ${(doneAfterMs / 1000).toFixed(1)} s after the loss; the server rolled the lost transaction back after ${(goneAfterMs / 1000).toFixed(1)} s`,
        ),
        held('the run COMPLETED', run.status === 'COMPLETED', `${run.chunksDone}/${run.chunks} chunks`),
        auditHeld(audit, /2\. grade coupons|5\. every chunk/, 'no double effect (coupons and chunks exactly once)'),
        auditHeld(audit, /acknowledged/, '0 acknowledged writes lost'),
      ],
      clients: clientFigures(outcome.result.samples),
      audit: { ok: audit.ok, text: audit.text },
      notes: [
        "The worker that lost its connection stops renewing the lease (renewal follows the chunk's own statements), so the lease runs out and another worker claims the chunk; its writes wait for the lost transaction's row locks until the server rolls that transaction back (the batch pool's idle-in-transaction bound). The lost worker learns of it only when its statement times out on the client, and its chunk can no longer commit (fencing).",
      ],
      charts: caseCharts('8. lost batch connection', outcome.result.samples, [
        { at: lostAtS, label: 'connection lost' },
        { at: doneAtS, label: 'chunk DONE' },
      ]),
    })
  })
}
