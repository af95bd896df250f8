import { Counter, Gauge, type Registry } from 'prom-client'
import { pacingReasons, type PacingState } from './pacing.ts'

/** Batch progress, the lease events an operator watches (chunks, steals, fencing) and the pace. */
export function createBatchMetrics(registry: Registry) {
  const counter = (name: string, help: string) => new Counter({ name, help, registers: [registry] })
  const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: [registry] })
  const pacingLevel = gauge('batch_pacing_level', "Lanes' worth of work this worker allows itself (below 1: one lane resting between chunks)")
  const pacingReason = gauge('batch_pacing_reason', 'The reason for the current pace (1 for the current one)', ['reason'])
  const pacingApiP99 = gauge('batch_pacing_api_p99_seconds', "The live API replicas' p99 (their requests merged) at the last decision")
  const pacingThreads = gauge('batch_pacing_threads_running', "The database's Threads_running at the last decision")
  const backoffs = counter('batch_pacing_backoffs_total', 'Times this worker halved its pace because the APIs were over budget')
  return {
    observePacing(state: PacingState): void {
      pacingLevel.set(state.level)
      for (const reason of pacingReasons) pacingReason.set({ reason }, reason === state.reason ? 1 : 0)
      if (state.apiP99Ms !== null) pacingApiP99.set(state.apiP99Ms / 1000)
      if (state.threadsRunning !== null) pacingThreads.set(state.threadsRunning)
      if (state.reason === 'backoff') backoffs.inc()
    },
    chunksClaimed: counter('batch_chunks_claimed_total', 'Chunks this worker claimed'),
    chunksDone: counter('batch_chunks_done_total', 'Chunks this worker committed (fenced DONE)'),
    chunksStolen: counter('batch_chunks_stolen_total', "Chunks claimed outside this worker's rank share"),
    leaseTakeovers: counter('batch_lease_takeovers_total', 'Chunks claimed again after an earlier claim (expired lease or release)'),
    fencingRejections: counter('batch_fencing_rejections_total', 'Commits refused because another worker owns the chunk now'),
    targetsDone: counter('batch_targets_done_total', 'Target users this worker graded'),
    daemonPolls: counter('batch_daemon_polls_total', 'Schedule and run checks the daemon completed'),
  }
}

export type BatchMetrics = ReturnType<typeof createBatchMetrics>
