import { uuidFromBytes, uuidToBytes, type BatchChunkEvent, type ChunkEventKind, type Pool, type Rows, type WithUuidBytes } from '@commerce/db'

/**
 * The chunk history the console draws (batch_chunk_events): every claim, steal, lease takeover and
 * fencing refusal, as the worker it happened to saw it. step_execution_log keeps only a chunk's
 * last claim, which is all the protocol needs; this is for people.
 */
export interface ChunkEvent {
  chunkNo: number
  kind: ChunkEventKind
  worker: string
  epoch: number
  /** Seconds since the run was requested, on the database clock. */
  at: number
}

/** The kind of a won claim: a takeover (a lease had expired) says more than a steal (another rank's chunk). */
export function claimKind({ epoch, stolen }: { epoch: number; stolen: boolean }): ChunkEventKind {
  if (epoch > 1) return 'TAKEOVER'
  return stolen ? 'STEAL' : 'CLAIM'
}

export function createChunkEventRepository(pool: Pool) {
  return {
    /** One statement, outside the chunk's transaction: a history row never holds up or rolls back the work. */
    async record(event: Omit<ChunkEvent, 'at'> & { runId: number }): Promise<void> {
      await pool.query('INSERT INTO batch_chunk_events (run_id, chunk_no, kind, worker, epoch, at) VALUES (?, ?, ?, ?, ?, NOW(6))', [
        event.runId,
        event.chunkNo,
        event.kind,
        uuidToBytes(event.worker),
        event.epoch,
      ])
    },

    /** A run's events in order, at most `limit` (the newest are kept when there are more). */
    async list(runId: number, limit: number): Promise<ChunkEvent[]> {
      const [rows] = await pool.query<Rows<WithUuidBytes<Pick<BatchChunkEvent, 'chunkNo' | 'kind' | 'worker' | 'epoch'>, 'worker'> & { at: string }>>(
        `SELECT * FROM (
           SELECT e.id, e.chunk_no AS chunkNo, e.kind, e.worker, e.epoch,
                  TIMESTAMPDIFF(MICROSECOND, r.requested_at, e.at) / 1e6 AS at
           FROM batch_chunk_events e JOIN batch_runs r ON r.id = e.run_id
           WHERE e.run_id = ? ORDER BY e.id DESC LIMIT ?
         ) newest ORDER BY id`,
        [runId, limit],
      )
      return rows.map((row) => ({ chunkNo: row.chunkNo, kind: row.kind, worker: uuidFromBytes(row.worker), epoch: row.epoch, at: Number(row.at) }))
    },
  }
}

export type ChunkEventRepository = ReturnType<typeof createChunkEventRepository>
