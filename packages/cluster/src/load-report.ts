// The latency a replica reports through its membership row, in one format for the writer (each
// API replica) and the readers (the batch workers, which merge every replica's report): counts
// per log-spaced bucket, each 20 % wider than the last, from 0.1 ms to past 60 s. Merging counts
// gives the p99 of all the replicas' requests together; the highest of per-replica p99s would be
// the slowest replica's handful of requests, which is noise at a few dozen requests per window.
const smallestMs = 0.1
const growth = 1.2
export const latencyBucketCount = Math.ceil(Math.log(60_000 / smallestMs) / Math.log(growth)) + 2

export const latencyBucketOf = (ms: number): number =>
  ms <= smallestMs ? 0 : Math.min(latencyBucketCount - 1, Math.ceil(Math.log(ms / smallestMs) / Math.log(growth)))
const upperBoundUs = (bucket: number) => Math.round(smallestMs * growth ** bucket * 1000)

/** A replica's recent request latency, as it reports it. */
export interface LoadSummary {
  /** p99 of the requests answered in the window, µs (a bucket's upper bound: at most 20 % high); null when it answered none. */
  p99Us: number | null
  /** Requests answered per second over the window. */
  rps: number
  /** The window's counts per bucket, "bucket:count" pairs of the non-empty buckets ("" when none): what readers merge. */
  counts: string
}

/** Counts per bucket (index = bucket) as a report's `counts`; at most ~11 characters per non-empty bucket. */
export function encodeLatencyCounts(counts: readonly number[]): string {
  const pairs: string[] = []
  counts.forEach((count, bucket) => {
    if (count > 0) pairs.push(`${bucket}:${count}`)
  })
  return pairs.join(',')
}

/** Adds a report's `counts` into `into` (index = bucket); malformed pairs are skipped, never thrown. */
function addLatencyCounts(into: number[], text: string): void {
  for (const pair of text.split(',')) {
    const [bucket, count] = pair.split(':').map(Number)
    if (bucket === undefined || count === undefined || !Number.isInteger(bucket) || bucket < 0 || bucket >= latencyBucketCount || !(count > 0)) continue
    into[bucket] = (into[bucket] ?? 0) + count
  }
}

/** The p99 of counts per bucket, µs: the upper bound of the smallest bucket with 99 % at or below it; null for none. */
export function p99UsOf(counts: readonly number[]): number | null {
  const total = counts.reduce((sum, count) => sum + count, 0)
  if (total === 0) return null
  let below = 0
  for (let bucket = 0; bucket < counts.length; bucket++) {
    below += counts[bucket] ?? 0
    if (below >= total * 0.99) return upperBoundUs(bucket)
  }
  return upperBoundUs(latencyBucketCount - 1)
}

/** Every report's requests as one: the p99 of them all (from the merged counts), their total rate and count. */
export function mergeLoadReports(reports: readonly Pick<LoadSummary, 'counts' | 'rps'>[]): { p99Us: number | null; rps: number; requests: number } {
  const counts = new Array<number>(latencyBucketCount).fill(0)
  for (const report of reports) addLatencyCounts(counts, report.counts)
  return { p99Us: p99UsOf(counts), rps: reports.reduce((sum, report) => sum + report.rps, 0), requests: counts.reduce((sum, count) => sum + count, 0) }
}
