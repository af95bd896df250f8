import t, { type Test } from 'tap'
import Fastify from 'fastify'
import eventLoopPlugin, { createEventLoopMonitor, loopTickMs } from '../../src/plugins/event-loop.ts'
import metricsPlugin from '../../src/plugins/metrics.ts'

/** Keeps the thread busy (no callback runs meanwhile): a stall of the event loop. */
function stall(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) {
    // busy
  }
}

/** Resolves after the monitor's next few ticks (a condition on its own clock, not a guess at a sleep). */
const ticks = (count: number) => new Promise((resolve) => setTimeout(resolve, loopTickMs * count))

async function metricsApp(t: Test) {
  const app = Fastify()
  await app.register(eventLoopPlugin, { maxDelayMs: 0 })
  await app.register(metricsPlugin, { service: 'probe' })
  await app.ready()
  t.teardown(() => app.close())
  /** One scrape (it takes the delays since the previous one), read by gauge name. */
  const scrape = async () => {
    const body = (await app.inject('/metrics')).body
    return (name: string) => {
      const value = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(body)?.[1]
      if (value === undefined) throw new Error(`${name} is not in the scrape`)
      return Number(value)
    }
  }
  return { app, scrape }
}

t.test('an idle loop reads a delay near zero, not the tick interval (prom-client reported 10 ms idle)', async (t) => {
  const { scrape } = await metricsApp(t)
  // A scrape takes the delays since the previous one: scrape until one holds a tick.
  for (;;) {
    await ticks(2)
    if ((await scrape())('nodejs_eventloop_lag_max_seconds') > 0) break
  }
  await ticks(10)
  const min = (await scrape())('nodejs_eventloop_lag_min_seconds')
  t.ok(min >= 0 && min < 0.01, `the smallest delay of idle ticks is under 10 ms (${min} s)`)
})

t.test('a stall is reported whole although the tick is coarse', async (t) => {
  const { scrape } = await metricsApp(t)
  await scrape()
  stall(200)
  await ticks(1)
  const gauge = await scrape()
  const max = gauge('nodejs_eventloop_lag_max_seconds')
  // The tick was due at most one tick after the stall began, and ran right after it.
  t.ok(max >= 0.2 - loopTickMs / 1000, `a 200 ms stall reads as at least ${200 - loopTickMs} ms (${max} s)`)
  t.equal(gauge('nodejs_eventloop_lag_p99_seconds'), max, 'and is the p99 of the few ticks since')
})

t.test('the shedding delay is the mean of the last sampled second', async (t) => {
  const monitor = createEventLoopMonitor()
  t.teardown(() => monitor.stop())
  t.equal(monitor.delayMs(), 0, 'nothing sampled yet')
  // Stall in every tick until a sampled second has seen it.
  while (monitor.delayMs() === 0) {
    stall(100)
    await ticks(1)
  }
  t.ok(monitor.delayMs() > 10, `a loop stalled 100 ms per tick has a mean delay well above an idle one (${monitor.delayMs()} ms)`)
  // Then idle until a whole quiet second is sampled.
  while (monitor.delayMs() > 10) await ticks(5)
  t.pass('an idle second brings it back down')
})
