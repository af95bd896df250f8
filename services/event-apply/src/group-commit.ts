import { kitErrors } from '@commerce/kit'
import { applicationKey, type Application, type EventRepository, type FlushOutcome, type StoredEntry } from './event-repository.ts'

export interface GroupCommitSettings {
  /** Longest a row waits in the buffer before its flush starts. */
  flushMs: number
  /**
   * The same for a buffer of lookups only (after early close: every arrival is one). Their answers
   * are refusals, so they wait longer for company: one statement for many, where each costs the
   * replica and the database more than the rest of the refusal.
   */
  lookupMs: number
  /** Rows per INSERT; a buffer this full flushes at once. */
  maxRows: number
  /** Flushes in flight at once; while all are busy the buffer keeps growing (bigger next batch). */
  concurrency: number
  /** Rows buffered plus rows being written; beyond it submit() refuses with 503. */
  limit: number
}

export interface FlushObserver {
  onFlush(rows: number, seconds: number, ok: boolean): void
  onBacklog(rows: number): void
}

/** What a flush did for a lookup-only entry: the phone's stored application, or none. */
export type LookupOutcome = ({ kind: 'duplicate' } & StoredEntry) | { kind: 'absent' }

interface Waiting {
  application: Application
  /** Only find the phone's stored application, write nothing (the event's quota is filled). */
  lookup: boolean
  bufferedAt: number
  resolve(outcome: FlushOutcome | LookupOutcome): void
  reject(error: unknown): void
}

/**
 * Group commit (DESIGN §6.6): requests wait a few milliseconds in a per-replica buffer, then
 * one multi-row INSERT IGNORE commits them together, and each request learns its own fate
 * (inserted, a duplicate phone, or refused because the event was drawn first: see
 * insertApplications). The promise settles only after the commit, so a 201 is never sent for
 * a row that is not durable. Entries that only look up a phone's stored application (after
 * early close, DESIGN §6.6) ride the same flush: one statement answers all of them, after the
 * batch's own rows are written.
 */
export function createGroupCommit(repo: EventRepository, settings: GroupCommitSettings, observer: FlushObserver) {
  let buffer: Waiting[] = []
  /** Writes among the buffered: while there is one, the buffer flushes after flushMs. */
  let bufferedWrites = 0
  let writing = 0
  let flushing = 0
  let timer: NodeJS.Timeout | undefined

  const backlog = () => buffer.length + writing

  function pump(): void {
    clearTimeout(timer)
    timer = undefined
    while (buffer.length > 0 && flushing < settings.concurrency) {
      const waited = performance.now() - (buffer[0]?.bufferedAt ?? 0)
      const waitMs = bufferedWrites > 0 ? settings.flushMs : settings.lookupMs
      if (buffer.length < settings.maxRows && waited < waitMs) {
        timer = setTimeout(pump, waitMs - waited)
        return
      }
      const batch = buffer.slice(0, settings.maxRows)
      buffer = buffer.slice(settings.maxRows)
      bufferedWrites -= batch.filter((waiting) => !waiting.lookup).length
      void flush(batch)
    }
  }

  async function flush(batch: Waiting[]): Promise<void> {
    flushing += 1
    writing += batch.length
    const started = performance.now()
    // The first arrival of a phone in the batch stands for the others: they repeat whatever it
    // found. Sorting by key gives every flush the same lock order.
    const keyOf = (waiting: Waiting) => applicationKey(waiting.application)
    const writes = batch.filter((waiting) => !waiting.lookup)
    const lookups = batch.filter((waiting) => waiting.lookup)
    const firstOf = new Map<string, Waiting>()
    for (const waiting of writes) if (!firstOf.has(keyOf(waiting))) firstOf.set(keyOf(waiting), waiting)
    const rows = [...firstOf.values()].sort((a, b) => a.application.eventId - b.application.eventId || (a.application.phone < b.application.phone ? -1 : 1))
    let ok = true
    try {
      const outcomes = rows.length > 0 ? await repo.insertApplications(rows.map((w) => w.application)) : []
      // One outcome per row, in order; every waiting's key has a first, which is one of the rows.
      const outcomeOf = new Map(rows.map((first, i) => [first, outcomes[i]!]))
      for (const waiting of writes) {
        const first = firstOf.get(keyOf(waiting))!
        const outcome = outcomeOf.get(first)!
        waiting.resolve(
          waiting !== first && outcome.kind === 'inserted'
            ? { kind: 'duplicate', applicationId: first.application.id, userId: first.application.userId }
            : outcome,
        )
      }
      if (lookups.length > 0) {
        const stored = await repo.storedApplications(lookups.map((waiting) => waiting.application))
        for (const waiting of lookups) {
          const entry = stored.of(waiting.application)
          waiting.resolve(entry === undefined ? { kind: 'absent' } : { kind: 'duplicate', ...entry })
        }
      }
    } catch (error) {
      ok = false
      for (const waiting of batch) waiting.reject(error)
    } finally {
      flushing -= 1
      writing -= batch.length
      observer.onFlush(rows.length, (performance.now() - started) / 1000, ok)
      observer.onBacklog(backlog())
      pump()
    }
  }

  function enqueue(application: Application, lookup: boolean): Promise<FlushOutcome | LookupOutcome> {
    if (backlog() >= settings.limit) throw kitErrors.OVERLOADED('too many applications waiting to be written')
    return new Promise((resolve, reject) => {
      buffer.push({ application, lookup, bufferedAt: performance.now(), resolve, reject })
      if (!lookup) bufferedWrites += 1
      observer.onBacklog(backlog())
      // The first write into a buffer of lookups shortens its wait to flushMs: pump re-arms the timer.
      if (!timer || buffer.length >= settings.maxRows || (!lookup && bufferedWrites === 1)) pump()
    })
  }

  return {
    /** Resolves with what the flush did with the application once it is over; rejects when the flush failed. */
    submit(application: Application): Promise<FlushOutcome> {
      return enqueue(application, false) as Promise<FlushOutcome>
    },
    /** Resolves with the phone's stored application, found by the next flush; writes nothing. */
    lookup(application: Application): Promise<LookupOutcome> {
      return enqueue(application, true) as Promise<LookupOutcome>
    },
    /** Resolves when everything submitted so far has been written (graceful shutdown). */
    async drain(): Promise<void> {
      while (backlog() > 0) {
        pump()
        await new Promise((resolve) => setTimeout(resolve, Math.max(1, settings.flushMs)))
      }
    },
    backlog,
  }
}

export type GroupCommit = ReturnType<typeof createGroupCommit>
