import { hostname } from 'node:os'
import { performance } from 'node:perf_hooks'
import { uuidFromBytes, uuidToBytes, uuidV7, type Pool, type ResultSetHeader, type Rows, type WasInstance, type WithUuidBytes } from '@commerce/db'
import type { LoadSummary } from './load-report.ts'
import { createPollingLoop } from './polling.ts'

/** A member is dead once its heartbeat is this many intervals old (DESIGN §6.1). */
const deadAfterBeats = 4
/**
 * Rows of my service older than this many of my intervals are deleted. Well past the dead
 * threshold, and a live member that was only paused simply registers again.
 */
const pruneAfterBeats = 10
/** The longest heartbeat interval a service may be configured with (HEARTBEAT_MS). */
export const maxHeartbeatMs = 60_000
/**
 * Other services may beat more slowly than mine: their rows go only past ten of the longest
 * interval a service accepts, so no live row is pruned by a faster service.
 */
const pruneOthersAfterMicros = pruneAfterBeats * maxHeartbeatMs * 1000

export interface MembershipView {
  /** Live members of my service, ordered by id (UUIDv7, so oldest first). */
  members: string[]
  /** My index in `members`; -1 when I am not in the live view. */
  rank: number
  size: number
  /** False until the view has stayed unchanged for one heartbeat interval. */
  settled: boolean
  /** True while my last heartbeat reached the database. */
  registered: boolean
}

export interface MembershipOptions {
  pool: Pool
  /** user-api, coupon-api, event-apply, batch-worker. */
  service: string
  heartbeatMs: number
  host?: string
  pid?: number
  onChange?: (view: MembershipView) => void
  /**
   * What this member reports of its recent latency, every `everyMs` (the batch paces itself by
   * the APIs' reports). Its own loop, more often than the heartbeat: liveness can be slow, the
   * batch's reaction to a slow API should not.
   */
  load?: { summary: () => LoadSummary; everyMs: number }
  log?: { warn(obj: object, msg: string): void }
}

const consoleLog = { warn: (obj: object, msg: string) => console.warn(msg, obj) }

/**
 * Registers this process in `was_instances` and keeps a live view of its service.
 * Every liveness decision uses the database clock (NOW(6)), never the app clock; the SQL is
 * raw because each statement is NOW(6)/INTERVAL arithmetic that reads best as plain SQL.
 * The database may be down at any time: failures are logged and retried, never thrown.
 */
export function createMembership(opts: MembershipOptions) {
  const { pool, service, heartbeatMs, onChange } = opts
  const log = opts.log ?? consoleLog
  const host = opts.host ?? hostname()
  const pid = opts.pid ?? process.pid
  const id = uuidV7()
  const idBytes = uuidToBytes(id)
  const deadAfterMicros = deadAfterBeats * heartbeatMs * 1000
  const pruneAfterMicros = pruneAfterBeats * heartbeatMs * 1000

  let members: string[] = []
  let registered = false
  // Local duration only (how long the view has been stable), never a liveness decision.
  let changedAt = performance.now()
  let lastEmitted = ''
  let stopped = false
  // Database work runs one step at a time so an older read never overwrites a newer view.
  let queue: Promise<unknown> = Promise.resolve()

  function serial<T>(work: () => Promise<T>): Promise<T> {
    const result = queue.then(work)
    queue = result.catch(() => undefined)
    return result
  }

  function view(): MembershipView {
    const rank = registered ? members.indexOf(id) : -1
    return {
      members: [...members],
      rank,
      size: members.length,
      settled: rank >= 0 && performance.now() - changedAt >= heartbeatMs,
      registered,
    }
  }

  function update(nextMembers: string[], nextRegistered: boolean): MembershipView {
    if (nextMembers.join() !== members.join() || nextRegistered !== registered) changedAt = performance.now()
    members = nextMembers
    registered = nextRegistered
    const current = view()
    const signature = JSON.stringify(current)
    if (signature !== lastEmitted) {
      lastEmitted = signature
      onChange?.(current)
    }
    return current
  }

  async function loadLiveMembers(): Promise<string[]> {
    const [rows] = await pool.query<Rows<WithUuidBytes<Pick<WasInstance, 'id'>, 'id'>>>(
      `SELECT id FROM was_instances
       WHERE service = ? AND last_heartbeat > NOW(6) - INTERVAL ? MICROSECOND
       ORDER BY id`,
      [service, deadAfterMicros],
    )
    return rows.map((row) => uuidFromBytes(row.id))
  }

  /**
   * The stale ids by a plain read (no locks), then a delete by primary key that checks staleness
   * again (a member that beat in between stays): only the rows deleted are locked.
   */
  async function prune(): Promise<void> {
    const stale = `(service = ? AND last_heartbeat < NOW(6) - INTERVAL ? MICROSECOND) OR last_heartbeat < NOW(6) - INTERVAL ? MICROSECOND`
    const staleArgs = [service, pruneAfterMicros, pruneOthersAfterMicros]
    const [rows] = await pool.query<Rows<WithUuidBytes<Pick<WasInstance, 'id'>, 'id'>>>(`SELECT id FROM was_instances WHERE ${stale}`, staleArgs)
    if (rows.length === 0) return
    await pool.query(`DELETE FROM was_instances WHERE id IN (?) AND (${stale})`, [rows.map((row) => row.id), ...staleArgs])
  }

  async function heartbeat(): Promise<void> {
    if (stopped) return
    try {
      const [beat] = await pool.query<ResultSetHeader>('UPDATE was_instances SET last_heartbeat = NOW(6) WHERE id = ?', [idBytes])
      // 0 rows: never registered (database was down at boot) or pruned while paused.
      if (beat.affectedRows === 0) {
        await pool.query(
          `INSERT INTO was_instances (id, service, host, pid, started_at, last_heartbeat)
           VALUES (?, ?, ?, ?, NOW(6), NOW(6))`,
          [idBytes, service, host, pid],
        )
      }
      // One pruner per service, its oldest live member (as of the last beat): when every member
      // pruned on every beat, each DELETE scanned and row-locked the whole table beside
      // everyone's heartbeat UPDATE (docs/BENCHMARKS.md, "Many members").
      if (registered && members[0] === id) {
        // Cleanup only: a failed prune (a lock wait timed out, say) is retried next beat and must
        // not empty the view of a member that did beat.
        await prune().catch((error: unknown) => log.warn({ err: error, service, id }, 'membership prune failed; the next beat retries'))
      }
      update(await loadLiveMembers(), true)
    } catch (error) {
      // Without a heartbeat we cannot know the view: act on nothing until the database is back.
      log.warn({ err: error, service, id }, 'membership heartbeat failed; retrying')
      update([], false)
    }
  }

  // heartbeat() reports its own failures (and empties the view), so the loop has nothing to add.
  const heartbeats = createPollingLoop({ intervalMs: heartbeatMs, tick: () => serial(heartbeat), onError: () => undefined })
  const { load } = opts
  // A lost report is replaced by the next one; the row not being there yet (0 rows) is fine too.
  const loadReports =
    load &&
    createPollingLoop({
      intervalMs: load.everyMs,
      firstTick: 'after-interval',
      tick: () => {
        const { p99Us, rps, counts } = load.summary()
        return pool.query('UPDATE was_instances SET load_p99_us = ?, load_rps = ?, load_counts = ?, load_reported_at = NOW(6) WHERE id = ?', [
          p99Us,
          Math.round(rps),
          counts,
          idBytes,
        ])
      },
      onError: (error) => log.warn({ err: error, service, id }, 'load report failed; the next one replaces it'),
    })

  return {
    id,
    /** Registers and starts heartbeating; resolves even when the database is unreachable. */
    async start(): Promise<MembershipView> {
      await heartbeats.start()
      await loadReports?.start()
      return view()
    },
    view,
    /** Reloads the live view now (e.g. at a chunk boundary); rejects if the database is down. */
    refresh(): Promise<MembershipView> {
      return serial(async () => update(await loadLiveMembers(), registered))
    },
    isRegistered: () => registered,
    /** Puts a batch worker's pace on `runId` into its row (null: working no run), for the run's status. */
    async reportPacing(pacing: ReportedPacing | null): Promise<void> {
      await pool.query('UPDATE was_instances SET pacing_run_id = ?, pacing_level = ?, pacing_reason = ? WHERE id = ?', [
        pacing?.runId ?? null,
        pacing?.level ?? null,
        pacing?.reason ?? null,
        idBytes,
      ])
    },
    /** Stops heartbeating and deletes this member's row; idempotent, never throws. */
    async stop(): Promise<void> {
      if (stopped) return
      stopped = true
      await Promise.all([heartbeats.stop(), loadReports?.stop()])
      await serial(async () => {
        try {
          await pool.query('DELETE FROM was_instances WHERE id = ?', [idBytes])
        } catch (error) {
          log.warn({ err: error, service, id }, 'membership row not deleted; it will be pruned')
        }
        update([], false)
      })
    },
  }
}

export type Membership = ReturnType<typeof createMembership>

export interface ReportedLoad extends LoadSummary {
  service: string
  id: string
}

/**
 * What members of `services` reported of their latency within the last `freshForMs` (database
 * clock). One indexed read: cheap enough for a batch worker to ask at its chunk boundaries.
 */
export async function readReportedLoad(pool: Pool, { services, freshForMs }: { services: readonly string[]; freshForMs: number }): Promise<ReportedLoad[]> {
  const [rows] = await pool.query<Rows<WithUuidBytes<Pick<WasInstance, 'id' | 'service' | 'loadP99Us' | 'loadRps' | 'loadCounts'>, 'id'>>>(
    `SELECT id, service, load_p99_us AS loadP99Us, load_rps AS loadRps, load_counts AS loadCounts FROM was_instances
     WHERE service IN (?) AND load_reported_at > NOW(6) - INTERVAL ? MICROSECOND`,
    [services, freshForMs * 1000],
  )
  return rows.map((row) => ({ service: row.service, id: uuidFromBytes(row.id), p99Us: row.loadP99Us, rps: row.loadRps ?? 0, counts: row.loadCounts ?? '' }))
}

export interface ReportedPacing {
  runId: number
  /** Lanes' worth of work the worker allows itself. */
  level: number
  reason: string
}

/** The pace each live batch worker reported on `runId`, oldest member first. */
export async function readReportedPacing(
  pool: Pool,
  { runId, heartbeatMs }: { runId: number; heartbeatMs: number },
): Promise<(ReportedPacing & { worker: string })[]> {
  const [rows] = await pool.query<Rows<WithUuidBytes<Pick<WasInstance, 'id' | 'pacingLevel' | 'pacingReason'>, 'id'>>>(
    `SELECT id, pacing_level AS pacingLevel, pacing_reason AS pacingReason FROM was_instances
     WHERE service = 'batch-worker' AND pacing_run_id = ? AND last_heartbeat > NOW(6) - INTERVAL ? MICROSECOND
     ORDER BY id`,
    [runId, deadAfterBeats * heartbeatMs * 1000],
  )
  return rows.map((row) => ({ worker: uuidFromBytes(row.id), runId, level: row.pacingLevel ?? 0, reason: row.pacingReason ?? '' }))
}

export interface MemberRow {
  id: string
  service: string
  host: string
  pid: number
  /** Seconds since the last heartbeat, on the database clock. */
  heartbeatAgeSeconds: number
  /** Seconds since it registered, on the database clock. */
  upSeconds: number
  /** Dead by the same rule every member applies (DESIGN §6.1); dead rows stay until pruned. */
  alive: boolean
  /** Its index among its service's live members, as each of them computes it; null when dead. */
  rank: number | null
  /** Its last load report (null: none yet, or nothing to report). */
  loadP99Ms: number | null
  loadRps: number | null
}

/** Every member row still stored, live and dead, by service then id (operators' view). */
export async function readMembers(pool: Pool, { heartbeatMs }: { heartbeatMs: number }): Promise<MemberRow[]> {
  const [rows] = await pool.query<
    Rows<WithUuidBytes<Pick<WasInstance, 'id' | 'service' | 'host' | 'pid' | 'loadP99Us' | 'loadRps'>, 'id'> & { age: string; up: string }>
  >(
    `SELECT id, service, host, pid, load_p99_us AS loadP99Us, load_rps AS loadRps,
            TIMESTAMPDIFF(MICROSECOND, last_heartbeat, NOW(6)) AS age, TIMESTAMPDIFF(MICROSECOND, started_at, NOW(6)) AS up
     FROM was_instances ORDER BY service, id`,
  )
  const deadAfterMicros = deadAfterBeats * heartbeatMs * 1000
  const ranks = new Map<string, number>()
  return rows.map((row) => {
    const alive = Number(row.age) < deadAfterMicros
    const rank = alive ? (ranks.get(row.service) ?? 0) : null
    if (alive) ranks.set(row.service, (rank ?? 0) + 1)
    return {
      id: uuidFromBytes(row.id),
      service: row.service,
      host: row.host,
      pid: row.pid,
      heartbeatAgeSeconds: Number(row.age) / 1e6,
      upSeconds: Number(row.up) / 1e6,
      alive,
      rank,
      loadP99Ms: row.loadP99Us === null ? null : row.loadP99Us / 1000,
      loadRps: row.loadRps,
    }
  })
}
