import t from 'tap'
import { encodeLatencyCounts, latencyBucketCount, latencyBucketOf, mergeLoadReports, p99UsOf } from '../src/load-report.ts'

/** A report of `requests` requests that each took `ms`. */
function reportOf(entries: [ms: number, requests: number][]) {
  const counts = new Array<number>(latencyBucketCount).fill(0)
  for (const [ms, requests] of entries) counts[latencyBucketOf(ms)] = (counts[latencyBucketOf(ms)] ?? 0) + requests
  return { counts: encodeLatencyCounts(counts), rps: entries.reduce((sum, [, n]) => sum + n, 0), p99Us: p99UsOf(counts) }
}

t.test('a p99 is the upper bound of its bucket: at most 20 % above the latency, never below it', async (t) => {
  for (const ms of [1, 7.3, 120, 2_500]) {
    const { p99Us } = reportOf([[ms, 100]])
    t.ok(p99Us !== null && p99Us >= ms * 1_000 && p99Us <= ms * 1_200, `${ms} ms → ${p99Us} µs`)
  }
  t.equal(p99UsOf(new Array<number>(latencyBucketCount).fill(0)), null, 'no requests: no p99')
})

t.test('merging counts gives the p99 of all the requests, not the slowest replica’s', async (t) => {
  // Replica A: 990 fast requests; replica B: 9 fast and 1 slow. B's own p99 is the slow one.
  const a = reportOf([[5, 990]])
  const b = reportOf([
    [5, 9],
    [400, 1],
  ])
  t.ok((b.p99Us ?? 0) >= 400_000, 'B alone: its p99 is its one slow request')
  const merged = mergeLoadReports([a, b])
  t.equal(merged.requests, 1_000)
  t.equal(merged.rps, 1_000)
  t.ok(merged.p99Us !== null && merged.p99Us < 6_100, `together: 1 slow request in 1,000 is under the p99 (${merged.p99Us} µs)`)
  const slowTail = mergeLoadReports([a, reportOf([[400, 20]])])
  t.ok((slowTail.p99Us ?? 0) >= 400_000, '2 % slow: the p99 is slow')
})

t.test('a malformed or empty report adds nothing and throws nothing', async (t) => {
  const merged = mergeLoadReports([{ counts: '', rps: 0 }, { counts: 'x:1,3:-2,999:5,4', rps: 0 }, reportOf([[10, 100]])])
  t.equal(merged.requests, 100)
  t.same(mergeLoadReports([]), { p99Us: null, rps: 0, requests: 0 })
})
