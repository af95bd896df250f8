import { setTimeout as sleep } from 'node:timers/promises'
import { mergeLoadReports, readReportedLoad } from '@commerce/cluster'
import type { Pool } from '@commerce/db'
import { readRunStatus } from '@commerce/local/batch'
import type { Band, LineSeries, Point, TimeseriesChart } from './charts.ts'

/** How often the pace and the APIs' reports are sampled for the charts. */
const sampleEveryMs = 250

export interface PacingSamples {
  /** One line per worker: its level over time (seconds since `started`). */
  levels: LineSeries[]
  /** The p99 of the API replicas' reported requests together (what the workers pace by), over time (ms). */
  apiP99: Point[]
  minLevel: number | null
  reasons: string[]
}

/**
 * The batch's pace as an operator sees it — the run's status (each live worker's level and reason,
 * from its membership row) and the p99 the API replicas report — sampled until `signal` aborts.
 */
export async function samplePacing(
  pool: Pool,
  run: { period: string } | { id: number },
  { started, heartbeatMs, signal }: { started: number; heartbeatMs: number; signal: AbortSignal },
): Promise<PacingSamples> {
  const levels = new Map<string, Point[]>()
  const apiP99: Point[] = []
  const reasons = new Set<string>()
  while (!signal.aborted) {
    const x = (performance.now() - started) / 1000
    const [status, reports] = await Promise.all([
      readRunStatus(pool, run, { heartbeatMs }).catch(() => null),
      readReportedLoad(pool, { services: ['user-api', 'coupon-api', 'event-apply'], freshForMs: 1_000 }).catch(() => []),
    ])
    for (const pace of status?.pacing ?? []) {
      const points = levels.get(pace.worker) ?? []
      levels.set(pace.worker, [...points, { x, y: pace.level }])
      reasons.add(pace.reason)
    }
    const { p99Us } = mergeLoadReports(reports)
    if (p99Us !== null) apiP99.push({ x, y: p99Us / 1000 })
    await sleep(sampleEveryMs, undefined, { signal }).catch(() => undefined)
  }
  const all = [...levels.values()].flat().flatMap((point) => (point.y === null ? [] : [point.y]))
  return {
    levels: [...levels.values()].map((points, index) => ({ label: `worker ${index + 1}`, points })),
    apiP99,
    minLevel: all.length > 0 ? Math.min(...all) : null,
    reasons: [...reasons],
  }
}

/** The level chart drawn under a run's latency chart. */
export function pacingChart(title: string, levels: LineSeries[], bands: Band[]): TimeseriesChart {
  return {
    kind: 'timeseries',
    title,
    caption: `Each worker's level as the run's status showed it (sampled every ${sampleEveryMs} ms): 2 = both lanes flat out, 1 = one lane, below 1 one lane resting between chunks. It halves when the API replicas' p99 is over the budget (BATCH_PACING_P99_MS, or BATCH_PACING_P99_RATIO × their p99 before the run when tighter) and climbs under it: doubling per hold (the reports' window plus their interval) until the first halving, then one floor (BATCH_PACING_FLOOR) more per hold; chunks start at the floor.`,
    xLabel: 'seconds since the traffic started',
    yLabel: "lanes' worth of work",
    series: levels,
    bands,
  }
}
