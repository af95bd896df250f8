import { readRunTimeline } from '@commerce/batch-worker/console'
import type { Pool, RowDataPacket } from '@commerce/db'
import type { Band, GanttChart, GanttLane, Marker } from './charts.ts'

/**
 * Who processed which chunk when, from step_execution_log (the console's readRunTimeline): one lane per owner (worker instance),
 * one bar per chunk from its last claim to its commit. Seconds on the DB clock since the run was
 * requested. Only the last claim is stored, so a chunk re-claimed after a lost lease shows as
 * one bar on the worker that finished it, flagged `emphasis`.
 */
export interface BatchTimeline {
  runId: number
  strategy: string
  lanes: GanttLane[]
  /** plan_started_at → planned_at, when the run was planned. */
  planning: Band | null
  /** published_at: chunks become claimable (after the publish delay). */
  published: Marker | null
}

export async function readBatchTimeline(pool: Pool, runId: number): Promise<BatchTimeline> {
  const run = await readRunTimeline(pool, runId)
  if (!run) throw new Error(`no batch run ${runId}`)
  const worked = run.chunks.flatMap((chunk) => (chunk.from !== null && chunk.worker !== null ? [{ ...chunk, from: chunk.from, worker: chunk.worker }] : []))
  // Lanes in order of each worker's first claim: "worker 1" is the first to start work.
  const lanes = new Map<string, GanttLane>()
  for (const chunk of worked.sort((a, b) => a.from - b.from)) {
    // The id's tail: UUIDv7s of workers started together share their leading (time) digits.
    const lane =
      lanes.get(chunk.worker) ?? lanes.set(chunk.worker, { label: `worker ${lanes.size + 1} · …${chunk.worker.slice(-6)}`, bars: [] }).get(chunk.worker)!
    const reclaimed = chunk.claims > 1
    const unfinished = chunk.to === null
    lane.bars.push({
      from: chunk.from,
      to: chunk.to ?? run.finished ?? run.now,
      label: `#${chunk.chunkNo}${reclaimed ? ` (claim ${chunk.claims})` : ''}${unfinished ? ' unfinished' : ''}`,
      emphasis: reclaimed || unfinished,
    })
  }
  const planning = run.planning?.to == null ? null : { from: run.planning.from, to: run.planning.to, label: 'planning' }
  const published = run.published === null ? null : { at: run.published, label: 'published' }
  return { runId, strategy: run.strategy, lanes: [...lanes.values()], planning, published }
}

/** The gantt chart of one run; markers are events on the same clock (e.g. a worker killed). */
export function batchGantt(timeline: BatchTimeline, title: string, markers: Marker[] = []): GanttChart {
  return {
    kind: 'gantt',
    title,
    caption: `Run ${timeline.runId} (${timeline.strategy}): each bar is one chunk, from its last claim to its commit, on the database clock. Only the last claim of a chunk is stored: a chunk taken over after a lost lease is drawn (red) on the worker that finished it, so a worker killed before committing anything has no lane.`,
    xLabel: 'seconds since the run was requested',
    barLabel: 'chunk, claim → commit',
    emphasisLabel: 're-claimed after a lost lease, or unfinished',
    lanes: timeline.lanes,
    bands: timeline.planning ? [timeline.planning] : [],
    markers: [...(timeline.published ? [timeline.published] : []), ...markers],
  }
}

/**
 * A run's request → COMPLETED window on the caller's clock (`now()`, in ms), for charts whose
 * x axis is the load generator's time. The DB clock is read once; the mapping error is half a
 * query's round trip.
 */
export async function runWindowOnLocalClock(pool: Pool, runId: number, now: () => number, label: string): Promise<Band | null> {
  const before = now()
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT TIMESTAMPDIFF(MICROSECOND, requested_at, NOW(6)) / 1e3 AS since_requested,
            TIMESTAMPDIFF(MICROSECOND, finished_at, NOW(6)) / 1e3 AS since_finished
     FROM batch_runs WHERE id = ?`,
    [runId],
  )
  const local = (before + now()) / 2
  const row = rows[0]
  if (!row || row.since_requested === null || row.since_finished === null) return null
  return { from: (local - Number(row.since_requested)) / 1000, to: (local - Number(row.since_finished)) / 1000, label }
}
