import { setTimeout as sleep } from 'node:timers/promises'
import { renewLease } from '@commerce/cluster'
import { inTransaction, type PoolConnection, type ResultSetHeader, type RowDataPacket } from '@commerce/db'
import { gradeCouponKind } from '@commerce/domain'
import {
  builtInStrategies,
  couponRows,
  emptyCounts,
  finishChunk,
  loadTargets,
  revokeSql,
  type ChunkCounts,
  type ChunkJob,
  type ChunkStrategies,
  type ChunkStrategy,
  type Target,
} from '@commerce/batch-worker/chunks'

// The batch benchmark's baselines: the write-up's row-by-row chunk processing, as chunk strategies
// registered from the benchmark's side (batch-worker-row-by-row.ts) next to the service's `bulk`.
// They write exactly the rows `bulk` writes (test/baselines/row-by-row-batch.test.ts).

/** One target's rows, statement by statement: prepared (`batched`) or plain queries (`naive`). */
async function writeTargetRowByRow(conn: PoolConnection, target: Target, job: ChunkJob, prepared: boolean, counts: ChunkCounts): Promise<void> {
  const run = (sql: string, params: unknown[]) =>
    (prepared ? conn.execute<ResultSetHeader>(sql, params as never) : conn.query<ResultSetHeader>(sql, params)).then(([result]) => result.affectedRows)
  const period = job.range.period
  counts.writes += await run(
    'INSERT INTO grade_history (user_id, period, from_grade, to_grade, total, order_count) VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE id = id',
    [target.userId, period, target.fromGrade, target.toGrade, target.total, target.orderCount],
  )
  counts.writes += await run('UPDATE users SET grade = ?, grade_updated_at = NOW(6) WHERE id = ?', [target.toGrade, target.userId])
  const revoked = await run(revokeSql('user_id = ?'), [target.userId, gradeCouponKind, period])
  counts.couponsRevoked += revoked
  counts.writes += revoked
  for (const row of couponRows([target], job, new Date())) {
    const issued = await run(
      'INSERT INTO coupons (id, user_id, kind, period, slot, amount, status, issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE id = id',
      row,
    )
    counts.couponsIssued += issued
    counts.writes += issued
  }
  counts.targets += 1
}

/** One transaction per chunk, prepared statements row by row. */
export const batchedStrategy: ChunkStrategy = (job) =>
  inTransaction(job.pool, async (conn) => {
    const targets = await loadTargets(conn, job)
    const counts = emptyCounts()
    for (const target of targets) await writeTargetRowByRow(conn, target, job, true, counts)
    return finishChunk(
      conn,
      job,
      targets.map((t) => t.userId),
      counts,
    )
  })

/**
 * One transaction per row. Each row's transaction renews the lease fenced on (owner, epoch),
 * so a worker that lost the chunk stops at its next row and its row never commits; the rows it
 * did commit carry their grade_history marker and are skipped by whoever takes over.
 * `rowPauseMs` between rows (between transactions: no lock held) gives a run a minimum length on
 * any machine, for a fault case that must hit it mid-run several times.
 */
export const pacedNaiveStrategy =
  (rowPauseMs: number): ChunkStrategy =>
  async (job) => {
    const targets = await inTransaction(job.pool, (conn) => loadTargets(conn, job))
    const counts = emptyCounts()
    for (const target of targets ?? []) {
      if (rowPauseMs > 0) await sleep(rowPauseMs)
      const owned = await inTransaction(job.pool, async (conn) => {
        if (!(await renewLease(conn, { ...job.chunk, leaseMs: job.leaseMs }))) return false
        await writeTargetRowByRow(conn, target, job, false, counts)
        return true
      })
      if (!owned) return null
    }
    // Every target of the chunk (done now or by an earlier owner) gets its redemptions applied.
    const [rows] = await job.pool.query<RowDataPacket[]>('SELECT user_id FROM batch_targets WHERE run_id = ? AND chunk_no = ?', [
      job.chunk.runId,
      job.chunk.chunkNo,
    ])
    return inTransaction(job.pool, (conn) =>
      finishChunk(
        conn,
        job,
        rows.map((row) => Number(row.user_id)),
        counts,
      ),
    )
  }

export const naiveStrategy = pacedNaiveStrategy(0)

/** The service's strategies and the two baselines; naive paced by NAIVE_ROW_PAUSE_MS when the entry is given one. */
export const rowByRowStrategies = (naiveRowPauseMs = 0): ChunkStrategies => ({
  ...builtInStrategies,
  batched: batchedStrategy,
  naive: pacedNaiveStrategy(naiveRowPauseMs),
})

/** The entry the benchmark and the fault suite start instead of batch-worker's own (stack option serverScripts, startBatchWorker's script). */
export const rowByRowWorkerScript = 'loadtest/src/baselines/batch-worker-row-by-row.ts'
