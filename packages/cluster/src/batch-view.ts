import type { BatchRun, Pool, Rows, StepExecution } from '@commerce/db'
import { createPollingLoop } from './polling.ts'
import { loadTargetSet, type TargetSet } from './target-set.ts'

/** Where an in-batch user is: the RUNNING run that targets them and their chunk (not DONE yet). */
export interface InBatch {
  runId: number
  period: string
  chunkNo: number
}

interface RunTargets {
  period: string
  /** The targets in id order, fixed once the run is published, so loaded once per run; chunk = ⌊rank / chunkSize⌋. */
  targets: TargetSet
  chunkSize: number
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
 * two small queries (the RUNNING runs, their DONE chunks); a run's targets are read once, as the
 * few rows of its compact target set (target-set.ts), never one row per target.
 * Correctness never depends on this view being fresh: a stale replica's writes still meet the
 * batch's row locks and fencing; the view only keeps requests off those locks.
 */
export function createBatchView({ pool, refreshMs, log }: BatchViewOptions) {
  let runs = new Map<number, RunTargets>()
  // Local durations only (performance.now), never compared across machines.
  let refreshedAt = 0
  async function refresh(): Promise<void> {
    const [running] = await pool.query<Rows<Pick<BatchRun, 'id' | 'period' | 'chunkSize'>>>(
      "SELECT id, period, chunk_size AS chunkSize FROM batch_runs WHERE status = 'RUNNING'",
    )
    const next = new Map<number, RunTargets>()
    for (const run of running) {
      const runId = run.id
      let targets = runs.get(runId)
      // chunk_size is set in the same statement that makes a run RUNNING; never null here.
      if (!targets) targets = { period: run.period, targets: await loadTargetSet(pool, runId), chunkSize: run.chunkSize ?? 1, doneChunks: new Set() }
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
        const rank = run.targets.rankOf(userId)
        if (rank < 0) continue
        const chunkNo = Math.floor(rank / run.chunkSize)
        if (!run.doneChunks.has(chunkNo)) return { runId, period: run.period, chunkNo }
      }
      return null
    },
    /** Milliseconds since the last successful refresh (for metrics and readiness). */
    ageMs: () => (refreshedAt === 0 ? Number.POSITIVE_INFINITY : performance.now() - refreshedAt),
    runningRuns: () => [...runs.keys()],
    /** Bytes the running runs' target sets hold in memory. */
    targetBytes: () => [...runs.values()].reduce((sum, run) => sum + run.targets.bytes, 0),
  }
}

export type BatchView = ReturnType<typeof createBatchView>
