import t from 'tap'
import type { RunProgress } from '@commerce/local/batch'
import { growthExponent, scaleReport, type AtFactor } from '../../src/scenarios/scale.ts'

t.test('growthExponent: the log-log slope of a figure over the data factor', async (t) => {
  const at = (of: (x: number) => number) => [1, 3, 10].map((x) => ({ x, y: of(x) }))
  t.equal(growthExponent(at((x) => 5 * x)).toFixed(6), '1.000000', 'linear growth is 1, whatever the constant')
  t.equal(growthExponent(at((x) => x * x)).toFixed(6), '2.000000', 'quadratic growth is 2')
  t.equal(growthExponent(at(() => 7)).toFixed(6), '0.000000', 'a flat figure is 0')
  t.equal(growthExponent(at((x) => x * Math.log(x + 1))) > 1, true, 'n log n is above linear')
  t.ok(Number.isNaN(growthExponent([{ x: 1, y: 2 }])), 'one point has no slope')
  t.ok(
    Number.isNaN(
      growthExponent([
        { x: 1, y: 0 },
        { x: 3, y: 0 },
      ]),
    ),
    'figures that are not positive are left out',
  )
})

/** A factor's measurements where every figure grows linearly except the reads (flat) and the guard's time (flat). */
function measuredAt(factor: number): AtFactor {
  const run = (seconds: number): RunProgress => ({
    id: 1,
    period: '2026-10',
    status: 'COMPLETED',
    strategy: 'bulk',
    targets: 15_000 * factor,
    chunks: 15 * factor,
    chunksDone: 15 * factor,
    chunksClaimed: 0,
    couponsIssued: 22_500 * factor,
    couponsRevoked: 0,
    redemptionsApplied: 0,
    planSeconds: seconds / 2,
    processSeconds: seconds / 2,
    totalSeconds: seconds,
    forceReason: null,
  })
  return {
    machine: { cpus: 2, cpuModel: 'test', memoryGiB: 1, os: 'test', node: 'v20', database: 'test', date: '2026-12-07T00:00:00.000Z' },
    factor,
    users: 30_000 * factor,
    orders: 1_000_000 * factor,
    seedSeconds: 5 * factor,
    alone: run(2 * factor),
    guard: { mode: 'stored', ms: 4, retainedBytes: 1024 * factor, setBytes: 3750 * factor, targets: 15_000 * factor, probe: [] },
    auditSeconds: 2 * factor,
    audit: true,
    reads: { requests: 1000, errors: 0, statuses: { 200: 1000 }, p99NoBatch: 10, p99InBatch: 20, meanInBatch: 5 },
    withReads: run(10 * factor),
    auditWithReads: true,
  }
}

t.test('scaleReport: a row per figure with its exponent, and a log-log growth chart', async (t) => {
  const { markdown, charts } = scaleReport([measuredAt(1), measuredAt(10)], 200)
  t.match(markdown, /\| seed \(s\) \| 5 \| 50 \| 1\.00 \| 1\.00 \|/, 'a linear figure: exponent 1')
  t.match(markdown, /\| read p99, in batch \(ms\) \| 20 \| 20 \| 0\.00 \| 0\.00 \|/, 'a flat figure: exponent 0')
  t.match(markdown, /200 reads\/s/, 'the read rate is stated')
  const growth = charts[0]
  t.equal(growth?.kind === 'timeseries' && growth.xScale === 'log' && growth.yScale === 'log', true, 'log-log')
  t.equal(charts.length, 4, 'growth, seconds, reads, guard')
})
