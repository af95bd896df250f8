import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { kitErrors, type DbClock } from '@commerce/kit'
import { sqlErrorCode, uuidV7, type Pool } from '@commerce/db'
import type { Config } from './config.ts'
import type { EventDirectory, EventState } from './directory.ts'
import { duplicateApplication, eventErrors } from './errors.ts'
import type { Application, EventRepository, FlushOutcome } from './event-repository.ts'
import { createGroupCommit } from './group-commit.ts'
import type { Receipts } from './receipts.ts'

export const applyOutcomes = ['accepted', 'duplicate', 'closed', 'not_open', 'not_found', 'refused'] as const

/** Who applies: a name and a normalised phone, and the verified account when a bearer token came with it. */
export interface Applicant {
  name: string
  phone: string
  userId: number | null
}

function createApplyMetrics(registry: Registry) {
  return {
    applications: new Counter({
      name: 'event_apply_applications_total',
      help: 'Applications by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    buffer: new Gauge({ name: 'event_apply_buffer_rows', help: 'Applications buffered or being written by this replica', registers: [registry] }),
    flushRows: new Histogram({
      name: 'event_apply_flush_rows',
      help: 'Rows per group commit',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers: [registry],
    }),
    flushSeconds: new Histogram({
      name: 'event_apply_flush_seconds',
      help: 'Duration of one group commit',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    flushes: new Counter({ name: 'event_apply_flushes_total', help: 'Group commits by result', labelNames: ['result'] as const, registers: [registry] }),
  }
}

/** What the write path did with one application: written, a repeat of the phone's, the quota filled, or too late for the draw. */
export type WriteOutcome = FlushOutcome | { kind: 'full' }

/**
 * The write path behind the desk's checks. The service has one, the group commit; buildApp takes
 * another only so that a benchmark can run the write-up's lock-based design behind the same routes.
 */
export interface ApplicationWriter {
  /** Resolves once the application is durable, or with why it was not written. */
  write(application: Application, state: EventState): Promise<WriteOutcome>
  /** Resolves once nothing accepted is left unwritten. */
  drain(): Promise<void>
  /** Applications accepted and not yet written. */
  backlog(): number
}
export type ApplicationWriterFactory = (deps: { pool: Pool }) => ApplicationWriter

function createGroupCommitWriter(
  repo: EventRepository,
  directory: EventDirectory,
  config: Config,
  metrics: ReturnType<typeof createApplyMetrics>,
): ApplicationWriter {
  const groupCommit = createGroupCommit(
    repo,
    {
      flushMs: config.EVENT_FLUSH_MS,
      lookupMs: config.EVENT_LOOKUP_MS,
      maxRows: config.EVENT_FLUSH_ROWS,
      concurrency: config.EVENT_FLUSH_CONCURRENCY,
      limit: config.EVENT_BUFFER_LIMIT,
    },
    {
      onFlush(rows, seconds, ok) {
        metrics.flushes.inc({ result: ok ? 'ok' : 'failed' })
        if (ok) {
          metrics.flushRows.observe(rows)
          metrics.flushSeconds.observe(seconds)
        }
      },
      onBacklog: (rows) => metrics.buffer.set(rows),
    },
  )
  return {
    async write(application, state) {
      // Early close from memory: every one of the quota's committed rows arrived before this
      // request, so it cannot rank among the winners; nothing is written. It may still be a
      // stored applicant's retry after a lost 201, which must learn its application id (409).
      if (directory.isFull(state)) {
        const found = await groupCommit.lookup(application)
        return found.kind === 'absent' ? { kind: 'full' } : found
      }
      const outcome = await groupCommit.submit(application)
      if (outcome.kind === 'inserted') directory.noteInserted(state, 1)
      return outcome
    },
    drain: () => groupCommit.drain(),
    backlog: () => groupCommit.backlog(),
  }
}

/**
 * The apply path (DESIGN §6.6): stamp on arrival, check the event from memory, then hand the
 * application to the write path (the group commit unless a benchmark injected another).
 */
export function createApplicationDesk({
  repo,
  directory,
  config,
  replicaId,
  registry,
  clock,
  writer,
  receipts,
}: {
  repo: EventRepository
  directory: EventDirectory
  config: Config
  replicaId: string
  registry: Registry
  /** The database's time as this replica measures it: arrival stamps and the open/close checks. */
  clock: Pick<DbClock, 'nowMicros' | 'sample'>
  writer?: ApplicationWriter
  receipts: Receipts
}) {
  const metrics = createApplyMetrics(registry)
  const write = writer ?? createGroupCommitWriter(repo, directory, config, metrics)
  let replicaSeq = 0

  async function decide(eventId: number, applicant: Applicant, receivedAtMicros: number, replicaSeqOfArrival: number) {
    const state = await directory.get(eventId)
    if (!state) throw eventErrors.EVENT_NOT_FOUND()
    const arrivedAt = receivedAtMicros / 1000
    const { event } = state
    // A PUBLIC event takes no account: its entries are one per phone whoever sends them.
    const userId = event.entry === 'ACCOUNT' ? applicant.userId : null
    if (event.entry === 'ACCOUNT' && userId === null) throw kitErrors.UNAUTHORIZED('this event is for signed-in customers: send your bearer token')
    if (arrivedAt < event.opensAt.getTime()) throw eventErrors.EVENT_NOT_OPEN()
    if (arrivedAt >= event.closesAt.getTime()) throw eventErrors.EVENT_CLOSED()
    const { name, phone } = applicant
    const application: Application = { id: uuidV7(), eventId, name, phone, userId, receivedAtMicros, replicaId, replicaSeq: replicaSeqOfArrival }
    const outcome = await write.write(application, state)
    if (outcome.kind === 'duplicate') {
      // A PUBLIC event names the phone's stored application (a retry after a lost 201 finds it) but
      // cannot tell its owner from a stranger; an ACCOUNT event names it only to the same account.
      if (userId === null) throw duplicateApplication(eventId, outcome.applicationId)
      if (outcome.userId === userId) throw duplicateApplication(eventId, outcome.applicationId, receipts.issue(eventId, outcome.applicationId))
      throw eventErrors.PHONE_ALREADY_ENTERED()
    }
    if (outcome.kind === 'full') throw eventErrors.EVENT_CLOSED('the quota is filled')
    if (outcome.kind === 'drawn') throw eventErrors.EVENT_CLOSED('the winners were drawn before this application could be written')
    return { ...application, receipt: receipts.issue(eventId, application.id) }
  }

  const outcomeOf = (code: string | undefined): (typeof applyOutcomes)[number] =>
    code === 'DUPLICATE_APPLICATION' || code === 'PHONE_ALREADY_ENTERED'
      ? 'duplicate'
      : code === 'EVENT_CLOSED'
        ? 'closed'
        : code === 'EVENT_NOT_OPEN'
          ? 'not_open'
          : code === 'EVENT_NOT_FOUND'
            ? 'not_found'
            : 'refused'

  return {
    /** Records one application; resolves only once it is committed (with its receipt), or throws the reason it is not. */
    async apply(eventId: number, applicant: Applicant) {
      // The arrival stamp and the replica's sequence are taken first, before any await.
      const receivedAtMicros = clock.nowMicros()
      replicaSeq += 1
      try {
        // Uncorrected, the host clock would decide this applicant's place in the draw.
        if (!clock.sample()) throw kitErrors.UNAVAILABLE('this replica has not measured its clock against the database yet')
        const application = await decide(eventId, applicant, receivedAtMicros, replicaSeq)
        metrics.applications.inc({ outcome: 'accepted' })
        return application
      } catch (error) {
        metrics.applications.inc({ outcome: outcomeOf(sqlErrorCode(error)) })
        throw error
      }
    },
    drain: () => write.drain(),
    backlog: () => write.backlog(),
  }
}

export type ApplicationDesk = ReturnType<typeof createApplicationDesk>
