import { readMembers } from '@commerce/cluster'
import {
  chunkEventKinds,
  eventStatuses,
  stepStatuses,
  uuidFromBytes,
  type Event,
  type Pool,
  type Rows,
  type StepExecution,
  type WithUuidBytes,
} from '@commerce/db'
import { Type, type Static } from 'typebox'
import { readDeferredRedemptions } from '../job/backlog.ts'
import { createChunkEventRepository } from '../job/chunk-events.ts'
import { listRecentRuns, readWorkerPaces } from '../job/progress.ts'
import { runProgressSchema, workerPaceSchema } from '../schemas.ts'

/** What the console shows, read in one go (a handful of indexed queries) and shared by every open page. */
// Counting a flood's applications exactly would read up to millions of index entries per refresh;
// past this the page says "at least".
const applicationCountCap = 10_000
const nullableNumber = Type.Union([Type.Number(), Type.Null()])
const seconds = (description: string) => Type.Number({ description: `${description}, seconds on the database clock` })

const runTimelineSchema = Type.Object({
  runId: Type.Integer(),
  strategy: Type.String(),
  now: seconds('now since the run was requested'),
  finished: Type.Union([seconds('COMPLETED or FAILED since the run was requested'), Type.Null()]),
  planning: Type.Union([Type.Object({ from: Type.Number(), to: nullableNumber }), Type.Null()]),
  published: nullableNumber,
  chunks: Type.Array(
    Type.Object({
      chunkNo: Type.Integer(),
      status: Type.Enum(stepStatuses),
      worker: Type.Union([Type.String(), Type.Null()]),
      claims: Type.Integer(),
      from: nullableNumber,
      to: nullableNumber,
    }),
  ),
  events: Type.Array(
    Type.Object({ chunkNo: Type.Integer(), kind: Type.Enum(chunkEventKinds), worker: Type.String(), epoch: Type.Integer(), at: Type.Number() }),
    { description: 'the newest claims, steals, takeovers and fencing refusals, oldest first' },
  ),
})
/** Who worked which chunk when (the console's chart, and the benchmarks' gantt charts). */
export type RunTimeline = Static<typeof runTimelineSchema>
const timelineSchema = Type.Object({ ...runTimelineSchema.properties, pacing: Type.Array(workerPaceSchema) })

const memberSchema = Type.Object({
  id: Type.String(),
  service: Type.String(),
  host: Type.String(),
  pid: Type.Integer(),
  heartbeatAgeSeconds: Type.Number(),
  upSeconds: Type.Number(),
  alive: Type.Boolean(),
  rank: Type.Union([Type.Integer(), Type.Null()]),
  loadP99Ms: nullableNumber,
  loadRps: nullableNumber,
})

const eventSchema = Type.Object({
  id: Type.Integer(),
  title: Type.String(),
  state: Type.Enum(['UPCOMING', 'OPEN', 'CLOSED', 'DRAWN']),
  status: Type.Enum(eventStatuses),
  opensAt: Type.String(),
  closesAt: Type.String(),
  announceAt: Type.String(),
  quota: Type.Integer(),
  applications: Type.Integer({ description: `counted up to ${applicationCountCap}` }),
  applicationsCapped: Type.Boolean(),
  winners: Type.Integer(),
})

export const consoleSnapshotSchema = Type.Object({
  generatedAt: Type.String({ description: 'when this snapshot was read (database clock)' }),
  runs: Type.Array(runProgressSchema, { description: 'the newest runs, newest first' }),
  timeline: Type.Union([timelineSchema, Type.Null()], { description: 'the newest run, chunk by chunk' }),
  members: Type.Array(memberSchema),
  events: Type.Array(eventSchema, { description: 'the newest events, newest first' }),
  redemptions: Type.Object({ pending: Type.Integer(), oldestPendingSeconds: nullableNumber, appliedLastMinute: Type.Integer() }),
})
export type ConsoleSnapshot = Static<typeof consoleSnapshotSchema>

const recentRuns = 8
const recentEvents = 5
const timelineEvents = 500

/** A run's chunks and chunk events, in seconds since it was requested on the database clock (null: no such run). */
export async function readRunTimeline(pool: Pool, runId: number): Promise<RunTimeline | null> {
  const [runs] = await pool.query<
    Rows<{ strategy: string; now: string; finished: string | null; planFrom: string | null; planTo: string | null; published: string | null }>
  >(
    `SELECT strategy, TIMESTAMPDIFF(MICROSECOND, requested_at, NOW(6)) / 1e6 AS now,
            TIMESTAMPDIFF(MICROSECOND, requested_at, finished_at) / 1e6 AS finished,
            TIMESTAMPDIFF(MICROSECOND, requested_at, plan_started_at) / 1e6 AS planFrom,
            TIMESTAMPDIFF(MICROSECOND, requested_at, planned_at) / 1e6 AS planTo,
            TIMESTAMPDIFF(MICROSECOND, requested_at, published_at) / 1e6 AS published
     FROM batch_runs WHERE id = ?`,
    [runId],
  )
  const run = runs[0]
  if (!run) return null
  const [chunks] = await pool.query<
    Rows<WithUuidBytes<Pick<StepExecution, 'chunkNo' | 'status' | 'claimCount'>, never> & { owner: Buffer | null; fromS: string | null; toS: string | null }>
  >(
    `SELECT s.chunk_no AS chunkNo, s.status, s.owner, s.claim_count AS claimCount,
            TIMESTAMPDIFF(MICROSECOND, r.requested_at, s.started_at) / 1e6 AS fromS,
            TIMESTAMPDIFF(MICROSECOND, r.requested_at, s.finished_at) / 1e6 AS toS
     FROM step_execution_log s JOIN batch_runs r ON r.id = s.run_id
     WHERE s.run_id = ? ORDER BY s.chunk_no`,
    [runId],
  )
  const number = (value: string | null) => (value === null ? null : Number(value))
  return {
    runId,
    strategy: run.strategy,
    now: Number(run.now),
    finished: number(run.finished),
    planning: run.planFrom === null ? null : { from: Number(run.planFrom), to: number(run.planTo) },
    published: number(run.published),
    chunks: chunks.map((chunk) => ({
      chunkNo: chunk.chunkNo,
      status: chunk.status,
      worker: chunk.owner ? uuidFromBytes(chunk.owner) : null,
      claims: chunk.claimCount,
      from: number(chunk.fromS),
      to: number(chunk.toS),
    })),
    events: await createChunkEventRepository(pool).list(runId, timelineEvents),
  }
}

async function readTimeline(pool: Pool, run: { id: number; status: string }, heartbeatMs: number): Promise<ConsoleSnapshot['timeline']> {
  const [timeline, pacing] = await Promise.all([readRunTimeline(pool, run.id), readWorkerPaces(pool, run, { heartbeatMs })])
  return timeline && { ...timeline, pacing }
}

async function readEvents(pool: Pool): Promise<ConsoleSnapshot['events']> {
  const [events] = await pool.query<
    Rows<Pick<Event, 'id' | 'title' | 'status' | 'winnerQuota' | 'opensAt' | 'closesAt' | 'announceAt'> & { upcoming: number; open: number }>
  >(
    `SELECT id, title, status, winner_quota AS winnerQuota, opens_at AS opensAt, closes_at AS closesAt, announce_at AS announceAt,
            NOW(6) < opens_at AS upcoming, NOW(6) < closes_at AS open
     FROM events ORDER BY id DESC LIMIT ?`,
    [recentEvents],
  )
  return Promise.all(
    events.map(async (event) => {
      // One bounded index range per event (uq_event_applications_phone, pk_event_winners).
      const [[counted], [won]] = await Promise.all([
        pool.query<Rows<{ n: number }>>('SELECT COUNT(*) AS n FROM (SELECT 1 FROM event_applications WHERE event_id = ? LIMIT ?) a', [
          event.id,
          applicationCountCap + 1,
        ]),
        pool.query<Rows<{ n: number }>>('SELECT COUNT(*) AS n FROM event_winners WHERE event_id = ?', [event.id]),
      ])
      const applications = Number(counted[0]?.n ?? 0)
      const state = event.status === 'ANNOUNCED' ? 'DRAWN' : event.upcoming ? 'UPCOMING' : event.open ? 'OPEN' : 'CLOSED'
      return {
        id: event.id,
        title: event.title,
        state,
        status: event.status,
        opensAt: event.opensAt.toISOString(),
        closesAt: event.closesAt.toISOString(),
        announceAt: event.announceAt.toISOString(),
        quota: event.winnerQuota,
        applications: Math.min(applications, applicationCountCap),
        applicationsCapped: applications > applicationCountCap,
        winners: Number(won[0]?.n ?? 0),
      } as const
    }),
  )
}

/** Everything the console shows, as of now. */
export async function readConsoleSnapshot(pool: Pool, { heartbeatMs }: { heartbeatMs: number }): Promise<ConsoleSnapshot> {
  const [[clock], runs, members, events, redemptions] = await Promise.all([
    pool.query<Rows<{ now: Date }>>('SELECT NOW(6) AS now'),
    listRecentRuns(pool, recentRuns),
    readMembers(pool, { heartbeatMs }),
    readEvents(pool),
    readDeferredRedemptions(pool),
  ])
  const newest = runs[0]
  return {
    generatedAt: (clock[0]?.now ?? new Date()).toISOString(),
    runs,
    timeline: newest ? await readTimeline(pool, newest, heartbeatMs) : null,
    members,
    events,
    redemptions,
  }
}
