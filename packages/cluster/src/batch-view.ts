import type { BatchRun, BatchTarget, Pool, Rows, StepExecution } from '@commerce/db'
import { createPollingLoop } from './polling.ts'

/** Where an in-batch user is: the RUNNING run that targets them and their chunk (not DONE yet). */
export interface InBatch {
  runId: number
  period: string
  chunkNo: number
}

interface RunTargets {
  period: string
  /** user id → chunk number; fixed once the run is published, so loaded once per run. */
  chunkOf: Map<number, number>
  doneChunks: Set<number>
}

export interface BatchViewOptions {
  pool: Pool
  /** ≤ 250 ms (DESIGN §6.3); the batch waits 2 × this after publishing before touching users. */
  refreshMs: number
  log?: { warn(obj: object, msg: string): void }
}

/**
 * The API guard's in-memory view of RUNNING batch runs (DESIGN §6.3), refreshed on a timer so a
 * request never does database I/O to ask "is this user being recalculated?". Each refresh costs
 * two small queries (the RUNNING runs, their DONE chunks); a run's targets are read once.
 * Correctness never depends on this view being fresh: a stale replica's writes still meet the
 * batch's row locks and fencing; the view only keeps requests off those locks.
 */
export function createBatchView({ pool, refreshMs, log }: BatchViewOptions) {
  let runs = new Map<number, RunTargets>()
  // Local durations only (performance.now), never compared across machines.
  let refreshedAt = 0
  async function refresh(): Promise<void> {
    const [running] = await pool.query<Rows<Pick<BatchRun, 'id' | 'period'>>>("SELECT id, period FROM batch_runs WHERE status = 'RUNNING'")
    const next = new Map<number, RunTargets>()
    for (const run of running) {
      const runId = run.id
      let targets = runs.get(runId)
      if (!targets) {
        const [rows] = await pool.query<Rows<Pick<BatchTarget, 'userId' | 'chunkNo'>>>(
          'SELECT user_id AS userId, chunk_no AS chunkNo FROM batch_targets WHERE run_id = ?',
          [runId],
        )
        targets = { period: run.period, chunkOf: new Map(rows.map((row) => [row.userId, row.chunkNo])), doneChunks: new Set() }
      }
      const [done] = await pool.query<Rows<Pick<StepExecution, 'chunkNo'>>>(
        "SELECT chunk_no AS chunkNo FROM step_execution_log WHERE run_id = ? AND status = 'DONE'",
        [runId],
      )
      targets.doneChunks = new Set(done.map((row) => row.chunkNo))
      next.set(runId, targets)
    }
    runs = next
    refreshedAt = performance.now()
  }

  const loop = createPollingLoop({
    intervalMs: refreshMs,
    tick: refresh,
    onError: (error) => log?.warn({ err: error }, 'batch view refresh failed; keeping the last view'),
  })

  return {
    /** Loads the view once (a failure is logged, not thrown), then keeps it fresh. */
    start: loop.start,
    stop: loop.stop,
    refresh,
    /** A memory lookup: the run and chunk recalculating this user, or null. */
    inBatch(userId: number): InBatch | null {
      for (const [runId, run] of runs) {
        const chunkNo = run.chunkOf.get(userId)
        if (chunkNo !== undefined && !run.doneChunks.has(chunkNo)) return { runId, period: run.period, chunkNo }
      }
      return null
    },
    /** Milliseconds since the last successful refresh (for metrics and readiness). */
    ageMs: () => (refreshedAt === 0 ? Number.POSITIVE_INFINITY : performance.now() - refreshedAt),
    runningRuns: () => [...runs.keys()],
  }
}

export type BatchView = ReturnType<typeof createBatchView>
