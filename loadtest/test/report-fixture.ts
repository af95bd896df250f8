import type { Chart, GanttLane } from '../src/charts.ts'
import { latencyOverTime, throughputOverTime } from '../src/stats.ts'

// Synthetic data shaped like a live-during-batch run with a kill and a join: 60 s of traffic,
// the batch from 10 s to 42 s, worker 1 killed at 20 s, worker 3 joining at 28 s.

/** A seeded PRNG (mulberry32): the same picture on every run. */
function random(seed: number): () => number {
  let state = seed
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const batchWindow = { from: 10, to: 42, label: 'batch (2 → 3 workers)' }
export const events = [
  { at: 20, label: 'worker 1 killed (kill -9)' },
  { at: 28, label: 'worker 3 joined' },
]

function samples(): { at: number; ms: number; status: number }[] {
  const next = random(6)
  const out: { at: number; ms: number; status: number }[] = []
  for (let at = 0; at < 60_000; at += 1.25) {
    const inBatch = at >= batchWindow.from * 1000 && at <= batchWindow.to * 1000
    const tail = next() < 0.01 ? 8 + next() * 30 : 1
    const ms = (inBatch ? 9 : 4) * (0.5 + next()) * tail
    const r = next()
    const status = inBatch && r < 0.12 ? 202 : r < 0.14 ? 409 : r > 0.9995 ? 503 : 200
    // A stall: nothing completes for two seconds after the kill.
    if (at >= 21_000 && at < 23_000) continue
    out.push({ at, ms, status })
  }
  return out
}

function lanes(): GanttLane[] {
  const next = random(7)
  const chunk = (from: number, to: number, n: number, emphasis = false) => ({ from, to, label: `#${n}`, emphasis })
  const result: GanttLane[] = [
    { label: 'worker 1 · 0191a3f2', bars: [] },
    { label: 'worker 2 · 0191a3f3', bars: [] },
    { label: 'worker 3 · 0191a7c0', bars: [] },
  ]
  let n = 0
  const fill = (lane: GanttLane, from: number, to: number) => {
    for (let t = from; t < to; ) {
      const length = 1.2 + next() * 1.6
      lane.bars.push(chunk(t, Math.min(to, t + length), ++n))
      t += length + 0.05
    }
  }
  fill(result[0]!, 11, 20)
  fill(result[1]!, 11, 42)
  // Worker 3 runs two chunks at a time: its lane stacks them on two rows.
  fill(result[2]!, 28.5, 41.5)
  fill(result[2]!, 29, 40)
  // The chunk worker 1 held when killed, re-claimed once its lease ran out.
  result[1]!.bars.push(chunk(42, 44, ++n, true))
  return result
}

export function fixtureCharts(): Chart[] {
  const data = samples()
  return [
    {
      kind: 'timeseries',
      title: 'Latency during the batch — guard on',
      caption: 'Per 1-s bucket of completions; closed loop.',
      xLabel: 'seconds since the traffic started',
      yLabel: 'latency ms',
      yScale: 'log',
      series: latencyOverTime(data),
      bands: [batchWindow],
      markers: events,
    },
    {
      kind: 'timeseries',
      title: 'Throughput by status — guard on',
      xLabel: 'seconds since the traffic started',
      yLabel: 'responses / s',
      series: throughputOverTime(data),
      bands: [batchWindow],
      markers: events,
    },
    {
      kind: 'gantt',
      title: 'Batch chunks per worker (bulk, 3 workers)',
      xLabel: 'seconds since the run was requested',
      barLabel: 'chunk, claim → commit',
      emphasisLabel: 're-claimed after a lost lease',
      lanes: lanes(),
      bands: [{ from: 0.2, to: 10.8, label: 'planning' }],
      markers: events,
    },
    {
      kind: 'bars',
      title: 'Batch time by strategy (median of 3 runs)',
      yLabel: 'seconds',
      unit: ' s',
      categories: ['1 worker\n30,000 users / 1,000,000 orders', '2 workers\n30,000 users / 1,000,000 orders', '2 workers\n3,000 users / 100,000 orders'],
      series: [
        { label: 'bulk', values: [4.21, 3.02, 0.71] },
        { label: 'batched', values: [11.5, 7.9, null] },
        { label: 'naive', values: [null, null, 48.3] },
      ],
    },
  ]
}

export const fixtureMarkdown = [
  '# Live APIs during the batch — 2026-11-23T01:37:03.751Z',
  '',
  'Machine: 2 × Fixture CPU @ 2.0GHz, 8 GiB, Node v22.0.0, 11.4.2-MariaDB. Load generator on the same machine.',
  'Closed-loop: 500 connections × 10 loops × 4 requests (profile, coupon list, redeem, place order).',
  '',
  '| guard | requests | 5xx | 202 | p50 ms | p99 ms | batch slowdown | audit |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
  '| on | 20000 | 0 | 1312 | 4.1 | 61.0 | 12 % | ok |',
  '| off | 20000 | 3 | 0 | 5.3 | 412.7 | 48 % | ok |',
].join('\n')
