import { Counter, type Registry } from 'prom-client'

/** Batch progress and the lease events an operator watches (chunks, steals, fencing). */
export function createBatchMetrics(registry: Registry) {
  const counter = (name: string, help: string) => new Counter({ name, help, registers: [registry] })
  return {
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
