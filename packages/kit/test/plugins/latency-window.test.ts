import t from 'tap'
import { mergeLoadReports } from '@commerce/cluster'
import { createLatencyWindow } from '../../src/plugins/latency-window.ts'

t.test('the window reports the p99, the rate and the counts of its last window only', async (t) => {
  let now = 10_000
  const window = createLatencyWindow({ windowMs: 1_000, now: () => now })
  t.same(window.summary(), { p99Us: null, rps: 0, counts: '' }, 'nothing answered yet')
  for (let i = 0; i < 98; i++) window.record(4)
  window.record(300)
  window.record(300)
  const busy = window.summary()
  t.equal(busy.rps, 100)
  t.ok(busy.p99Us !== null && busy.p99Us >= 300_000 && busy.p99Us <= 360_000, `2 slow in 100: the p99 is slow (${busy.p99Us} µs)`)
  t.same(mergeLoadReports([busy]), { p99Us: busy.p99Us, rps: 100, requests: 100 }, 'the counts carry the same requests')
  now += 1_000
  for (let i = 0; i < 50; i++) window.record(4)
  const later = window.summary()
  t.equal(later.rps, 50, 'a window later the old requests are gone')
  t.ok(later.p99Us !== null && later.p99Us <= 4_800, `and so is their tail (${later.p99Us} µs)`)
})
