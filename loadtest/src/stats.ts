import type { LineSeries } from './charts.ts'

/** Latency summary of a list of samples (ms). */
export interface LatencySummary {
  count: number
  mean: number
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
}

export function summarize(samples: number[]): LatencySummary {
  const sorted = Float64Array.from(samples).sort()
  const at = (q: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!)
  const sum = sorted.reduce((a, b) => a + b, 0)
  return {
    count: sorted.length,
    mean: sorted.length ? sum / sorted.length : NaN,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
  }
}

/** Samples grouped by time bucket (ms since start → bucket start in seconds), in time order. */
function buckets<T extends { at: number }>(samples: T[], bucketMs: number): { x: number; samples: T[] }[] {
  if (samples.length === 0) return []
  const byIndex = new Map<number, T[]>()
  for (const s of samples) {
    const index = Math.floor(s.at / bucketMs)
    const bucket = byIndex.get(index)
    if (bucket) bucket.push(s)
    else byIndex.set(index, [s])
  }
  const first = Math.min(...byIndex.keys())
  const last = Math.max(...byIndex.keys())
  // Empty buckets are kept: a second with no completions is a fact the charts must show.
  return Array.from({ length: last - first + 1 }, (_, i) => ({ x: ((first + i) * bucketMs) / 1000, samples: byIndex.get(first + i) ?? [] }))
}

/**
 * 1-s buckets, or finer for runs too short to draw a line with them (a small bench finishes in a
 * few seconds): the coarsest of 1 s, 500, 250 or 100 ms that gives at least 30 buckets.
 */
export function bucketMsFor(samples: { at: number }[]): number {
  const span = samples.reduce((max, s) => Math.max(max, s.at), 0) - samples.reduce((min, s) => Math.min(min, s.at), Infinity)
  return [1000, 500, 250].find((ms) => span / ms >= 30) ?? 100
}

/** p50/p90/p99 latency per time bucket, as chart series (charts.ts); empty buckets break the lines. */
export function latencyOverTime(samples: { at: number; ms: number }[], bucketMs = 1000): LineSeries[] {
  const summaries = buckets(samples, bucketMs).map((b) => ({ x: b.x, summary: b.samples.length ? summarize(b.samples.map((s) => s.ms)) : null }))
  return (['p50', 'p90', 'p99'] as const).map((q) => ({ label: q, points: summaries.map((b) => ({ x: b.x, y: b.summary ? b.summary[q] : null })) }))
}

/** How many answers had each HTTP status (0 = network error), keyed by status. */
export function statusCounts(answers: readonly { status: number }[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const { status } of answers) counts[status] = (counts[status] ?? 0) + 1
  return counts
}

/** The throughput chart's classes; 202 (accepted, applied later) is counted apart from other 2xx. */
export const statusClasses = [
  { label: '2xx (not 202)', color: '#2ca02c', test: (status: number) => status >= 200 && status < 300 && status !== 202 },
  { label: '202 accepted', color: '#1f77b4', test: (status: number) => status === 202 },
  { label: '4xx', color: '#ff7f0e', test: (status: number) => status >= 400 && status < 500 },
  { label: '5xx / network errors', color: '#d62728', test: (status: number) => status >= 500 || status === 0 },
] as const

/** Responses per second per status class (status 0 = network error) per time bucket. */
export function throughputOverTime(samples: { at: number; status: number }[], bucketMs = 1000): LineSeries[] {
  const grouped = buckets(samples, bucketMs)
  return statusClasses.map((c) => ({
    label: c.label,
    color: c.color,
    points: grouped.map((b) => ({ x: b.x, y: (b.samples.filter((s) => c.test(s.status)).length * 1000) / bucketMs })),
  }))
}
