import { createPollingLoop } from '@commerce/cluster'
import type { EventRecord, EventRepository } from './event-repository.ts'

/** What a replica knows about one event: its row and a lower bound of committed applications. */
export interface EventState {
  event: EventRecord
  /** Never above the true committed count: the last count read plus this replica's inserts since. */
  committed: number
}

/**
 * The events this replica serves, kept in memory so the apply path does no DB I/O for them.
 * A timer re-reads the cached events and, for open ones below quota, their committed count
 * (capped at the quota). A count of a huge event is costly, so the refresh backs off to ten
 * times the last refresh's duration: it never takes more than ~10% of one connection.
 * Unknown ids are remembered as missing for `missing.ttlMs` (the refresh interval by default),
 * at most `missing.limit` of them, the oldest forgotten first: a flood of random ids costs one
 * query per id and bounded memory, a repeated unknown id one query per TTL, and an event created
 * after its id was probed is found once the TTL is over.
 */
export function createEventDirectory({
  repo,
  refreshMs,
  log,
  missing = {},
  clock = () => performance.now(),
  wallClock,
}: {
  repo: EventRepository
  refreshMs: number
  log: { warn: (obj: object, msg: string) => void }
  missing?: { limit?: number; ttlMs?: number }
  /** Monotonic milliseconds, for the misses' expiry. */
  clock?: () => number
  /** Milliseconds since the epoch on the database's clock, for which events are open. */
  wallClock: () => number
}) {
  const { limit: missingLimit = 10_000, ttlMs: missingTtlMs = refreshMs } = missing
  const known = new Map<number, EventState>()
  /** Unknown id → when its miss expires; insertion order is age, so the first key is the oldest. */
  const misses = new Map<number, number>()
  const loading = new Map<number, Promise<EventState | null>>()

  function rememberMissing(id: number): void {
    misses.set(id, clock() + missingTtlMs)
    for (const oldest of misses.keys()) {
      if (misses.size <= missingLimit) break
      misses.delete(oldest)
    }
  }

  async function load(id: number): Promise<EventState | null> {
    const [event] = await repo.findEvents([id])
    if (!event) {
      rememberMissing(id)
      return null
    }
    // A refresh may have filled it meanwhile; keep the better-informed entry.
    const state = known.get(id) ?? { event, committed: 0 }
    known.set(id, state)
    return state
  }

  async function refresh(): Promise<void> {
    const ids = [...known.keys()]
    const events = await repo.findEvents(ids)
    const found = new Set(events.map((e) => e.id))
    for (const id of ids) if (!found.has(id)) known.delete(id)
    const now = wallClock()
    for (const event of events) {
      const state = known.get(event.id) ?? { event, committed: 0 }
      state.event = event
      // Long-closed events leave memory; a late request reloads the row once and gets its 410.
      if (event.closesAt.getTime() < now - 60_000) {
        known.delete(event.id)
        continue
      }
      known.set(event.id, state)
      const open = event.opensAt.getTime() <= now && now < event.closesAt.getTime()
      if (open && state.committed < event.winnerQuota) {
        const counted = await repo.countApplications(event.id, event.winnerQuota)
        state.committed = Math.max(state.committed, counted)
      }
    }
  }

  const refreshing = createPollingLoop({
    // A slow database is asked less often: the pause is at least ten times the last refresh.
    intervalMs: (tickMs) => Math.max(refreshMs, 10 * tickMs),
    firstTick: 'after-interval',
    tick: refresh,
    onError: (error) => log.warn({ err: error }, 'event refresh failed; serving the last known state'),
  })

  return {
    /** The event's state, loaded once on first use; null when there is no such event. */
    async get(id: number): Promise<EventState | null> {
      const cached = known.get(id)
      if (cached) return cached
      const missUntil = misses.get(id)
      if (missUntil !== undefined) {
        if (clock() < missUntil) return null
        misses.delete(id)
      }
      let pending = loading.get(id)
      if (!pending) {
        pending = load(id).finally(() => loading.delete(id))
        loading.set(id, pending)
      }
      return pending
    },
    /** This replica's own committed inserts count at once (early close without waiting for a refresh). */
    noteInserted(state: EventState, rows: number) {
      state.committed += rows
    },
    isFull: (state: EventState) => state.committed >= state.event.winnerQuota,
    /** How many events and remembered misses this replica holds (a gauge). */
    entries: () => ({ known: known.size, missing: misses.size }),
    start: refreshing.start,
    stop: refreshing.stop,
  }
}

export type EventDirectory = ReturnType<typeof createEventDirectory>
