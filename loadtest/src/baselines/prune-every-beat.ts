import { v7 as uuidv7 } from 'uuid'
import { createPollingLoop, type LoadSummary } from '@commerce/cluster'
import { uuidFromBytes, uuidToBytes, type Pool, type ResultSetHeader, type Rows, type WasInstance, type WithUuidBytes } from '@commerce/db'

/**
 * A member's heartbeat before one pruner per service, for the members benchmark: every member ran
 * the prune DELETE (a full scan of was_instances, locking every row it reads) on every beat. The
 * statements are those of packages/cluster/src/membership.ts at b5725a8; the load report is the
 * unchanged one, so only the prune differs.
 */
export function startPruneEveryBeatMember(opts: {
  pool: Pool
  service: string
  heartbeatMs: number
  load: { summary: LoadSummary; everyMs: number }
  onView: (members: string[]) => void
}): { stop(): Promise<void> } {
  const { pool, service, heartbeatMs, onView } = opts
  const id = uuidToBytes(uuidv7())
  const beat = async () => {
    const [updated] = await pool.query<ResultSetHeader>('UPDATE was_instances SET last_heartbeat = NOW(6) WHERE id = ?', [id])
    if (updated.affectedRows === 0) {
      await pool.query("INSERT INTO was_instances (id, service, host, pid, started_at, last_heartbeat) VALUES (?, ?, 'sim', ?, NOW(6), NOW(6))", [
        id,
        service,
        process.pid,
      ])
    }
    await pool.query('DELETE FROM was_instances WHERE last_heartbeat < NOW(6) - INTERVAL ? MICROSECOND', [10 * heartbeatMs * 1000])
    const [rows] = await pool.query<Rows<WithUuidBytes<Pick<WasInstance, 'id'>, 'id'>>>(
      'SELECT id FROM was_instances WHERE service = ? AND last_heartbeat > NOW(6) - INTERVAL ? MICROSECOND ORDER BY id',
      [service, 4 * heartbeatMs * 1000],
    )
    onView(rows.map((row) => uuidFromBytes(row.id)))
  }
  const { summary } = opts.load
  const report = () =>
    pool.query('UPDATE was_instances SET load_p99_us = ?, load_rps = ?, load_counts = ?, load_reported_at = NOW(6) WHERE id = ?', [
      summary.p99Us,
      summary.rps,
      summary.counts,
      id,
    ])
  // Scheduled as the membership schedules them (a pause after each tick, never overlapping), so
  // only the prune differs; errors end neither loop, the benchmark counts them.
  const loops = [
    createPollingLoop({ intervalMs: heartbeatMs, tick: beat, onError: () => undefined }),
    createPollingLoop({ intervalMs: opts.load.everyMs, firstTick: 'after-interval', tick: report, onError: () => undefined }),
  ]
  for (const loop of loops) void loop.start()
  return {
    async stop() {
      // Each loop's tick in progress is done before the row goes, so no late beat inserts it again.
      await Promise.all(loops.map((loop) => loop.stop()))
      await pool.query('DELETE FROM was_instances WHERE id = ?', [id])
    },
  }
}
