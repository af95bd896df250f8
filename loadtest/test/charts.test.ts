import t from 'tap'
import { renderChart } from '../src/charts.ts'

t.test('a timeseries with a log x axis places equal ratios at equal distances', async (t) => {
  const svg = renderChart({
    kind: 'timeseries',
    title: 'growth',
    xLabel: 'factor',
    yLabel: 'figure',
    xScale: 'log',
    yScale: 'log',
    series: [{ label: 'linear', points: [1, Math.sqrt(10), 10].map((x) => ({ x, y: x })) }],
  })
  const points = svg.match(/<polyline data-series="linear"[^>]* points="([^"]+)"/)?.[1]
  const [first, middle, last] = (points ?? '').split(' ').map((p) => p.split(',').map(Number))
  t.ok(first && middle && last, 'three points drawn')
  t.equal(Math.round(middle![0]! - first![0]!), Math.round(last![0]! - middle![0]!), '√10 halfway between 1 and 10 along x')
  t.equal(Math.round(first![1]! - middle![1]!), Math.round(middle![1]! - last![1]!), 'and along y')
  t.match(svg, />5</, 'ticks at 1, 2, 5 and 10')
})
