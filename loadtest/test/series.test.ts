import t from 'tap'
import { formatTick, niceTicks, renderChart } from '../src/charts.ts'
import { bucketMsFor, latencyOverTime, statusCounts, throughputOverTime } from '../src/stats.ts'

t.test('latencyOverTime: percentiles per second, a gap where nothing completed', async (t) => {
  const samples = [...Array.from({ length: 100 }, (_, i) => ({ at: 100 + i, ms: i + 1 })), ...Array.from({ length: 10 }, (_, i) => ({ at: 2_500 + i, ms: 50 }))]
  const [p50, p90, p99] = latencyOverTime(samples)
  t.same(p50?.points, [
    { x: 0, y: 50 },
    { x: 1, y: null },
    { x: 2, y: 50 },
  ])
  t.same(
    p90?.points.map((p) => p.y),
    [90, null, 50],
  )
  t.same(
    p99?.points.map((p) => p.y),
    [99, null, 50],
  )
  t.same(
    latencyOverTime([]).map((s) => s.points),
    [[], [], []],
    'no samples, no points',
  )
})

t.test('throughputOverTime: per-second counts by status class, 202 and errors apart', async (t) => {
  const statuses = [200, 201, 202, 202, 404, 409, 500, 0]
  const series = throughputOverTime(
    statuses.map((status, i) => ({ at: i * 100, status })),
    500,
  )
  t.same(
    series.map((s) => [s.label, s.points.map((p) => p.y)]),
    [
      ['2xx (not 202)', [4, 0]],
      ['202 accepted', [4, 0]],
      ['4xx', [2, 2]],
      ['5xx / network errors', [0, 4]],
    ],
    'req/s = count × 1000 / bucket ms',
  )
})

t.test('statusCounts: answers per HTTP status, network errors under 0', async (t) => {
  t.same(statusCounts([{ status: 201 }, { status: 409 }, { status: 201 }, { status: 0 }]), { '201': 2, '409': 1, '0': 1 })
  t.same(statusCounts([]), {})
})

t.test('bucketMsFor: 1 s buckets, finer when the run is short', async (t) => {
  const run = (seconds: number) => [{ at: 0 }, { at: seconds * 1000 }]
  t.same([run(120), run(30), run(20), run(8), run(1), []].map(bucketMsFor), [1000, 1000, 500, 250, 100, 100])
})

t.test('ticks and labels', async (t) => {
  t.same(niceTicks(0, 10), [0, 2, 4, 6, 8, 10])
  t.same(niceTicks(0, 0.7, 6), [0, 0.2, 0.4, 0.6], 'steps of 1, 2 or 5 × 10^k, no float dust')
  t.same([1500, 25_000, 2_000_000, 0.25].map(formatTick), ['1500', '25k', '2M', '0.25'])
})

t.test('charts escape their text and survive empty data', async (t) => {
  const svg = renderChart({ kind: 'bars', title: 'a <b> & "c"', yLabel: 'y', categories: [], series: [] })
  t.match(svg, /a &lt;b&gt; &amp; &quot;c&quot;/)
  t.notMatch(svg, /NaN|Infinity/)
  for (const chart of [
    renderChart({ kind: 'timeseries', title: 'empty', xLabel: 'x', yLabel: 'y', series: [{ label: 's', points: [] }] }),
    renderChart({ kind: 'timeseries', title: 'empty log', xLabel: 'x', yLabel: 'y', yScale: 'log', series: [{ label: 's', points: [{ x: 0, y: null }] }] }),
    renderChart({ kind: 'gantt', title: 'empty', xLabel: 'x', barLabel: 'chunk', lanes: [] }),
  ]) {
    t.match(chart, /no data/)
    t.notMatch(chart, /NaN|Infinity/)
  }
})
