import { createHistogram, performance } from 'node:perf_hooks'
import fp from 'fastify-plugin'
import { kitErrors } from '../errors.ts'

/**
 * The delay monitor's tick. Every tick wakes the process, and on this project's 2-vCPU VMs a
 * wake-up costs ~85 µs of CPU: the 10 ms ticks of prom-client's and @fastify/under-pressure's
 * monitors (which this plugin replaces) cost each idle replica 8–9 ms of CPU a second, and woke
 * the stack's replicas 800 times a second between them (docs/BENCHMARKS.md, Request cost). A late
 * tick records the whole stall, so a coarser tick misses no delay; it only takes fewer samples.
 */
export const loopTickMs = 50
/** How often the shedding decision is refreshed from the ticks since the last refresh. */
const shedSampleMs = 1000

/** Delays a callback waited for the event loop, in seconds, as the metrics scrape reports them. */
export interface LoopDelays {
  min: number
  max: number
  mean: number
  stddev: number
  p50: number
  p90: number
  p99: number
}

/**
 * One event-loop delay monitor for both its readers: load shedding (the mean delay over the last
 * second, as under-pressure measured it) and the `nodejs_eventloop_lag_*` gauges (every delay since
 * the previous scrape). A delay is how late a tick ran; prom-client's gauges reported the interval
 * between ticks instead, so an idle loop read 10 ms there.
 */
export function createEventLoopMonitor() {
  // One timer in JavaScript rather than perf_hooks' monitor: both readers take its samples, and its
  // interval, unlike that monitor's, can be merged into nothing else.
  const sinceSample = createHistogram()
  const sinceScrape = createHistogram()
  let delayMs = 0
  let last = performance.now()
  let sampledAt = last
  const tick = setInterval(() => {
    const now = performance.now()
    // Histograms take integers ≥ 1: nanoseconds, and an on-time tick as 1 ns.
    const delayNanos = Math.max(1, Math.round((now - last - loopTickMs) * 1e6))
    last = now
    sinceSample.record(delayNanos)
    sinceScrape.record(delayNanos)
    if (now - sampledAt >= shedSampleMs) {
      delayMs = sinceSample.mean / 1e6
      sinceSample.reset()
      sampledAt = now
    }
  }, loopTickMs)
  tick.unref()
  const seconds = (nanos: number) => nanos / 1e9
  return {
    /** The mean delay over the last sampled second, ms. */
    delayMs: () => delayMs,
    /** The delays recorded since the previous call (zeros when none were). */
    takeDelays(): LoopDelays {
      const h = sinceScrape
      const delays =
        h.count === 0
          ? { min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0 }
          : {
              min: seconds(h.min),
              max: seconds(h.max),
              mean: seconds(h.mean),
              stddev: seconds(h.stddev),
              p50: seconds(h.percentile(50)),
              p90: seconds(h.percentile(90)),
              p99: seconds(h.percentile(99)),
            }
      h.reset()
      return delays
    },
    stop(): void {
      clearInterval(tick)
    },
  }
}

export type EventLoopMonitor = ReturnType<typeof createEventLoopMonitor>

declare module 'fastify' {
  interface FastifyInstance {
    eventLoop: EventLoopMonitor
  }
  interface FastifyContextConfig {
    /** `false`: answered whatever the pressure (liveness, metrics). */
    shed?: boolean
  }
}

/**
 * Load shedding: while the event loop's mean delay over the last second exceeds `maxDelayMs`, a
 * request to a route that may shed is answered 503 OVERLOADED (with Retry-After) before any work.
 * 0 never sheds.
 */
export default fp<{ maxDelayMs: number }>(
  async (app, { maxDelayMs }) => {
    const monitor = createEventLoopMonitor()
    app.decorate('eventLoop', monitor)
    app.addHook('onClose', async () => monitor.stop())
    if (maxDelayMs > 0) {
      // A callback hook, not an async one: it runs on every request and usually has nothing to do.
      app.addHook('onRequest', (request, _reply, done) => {
        const delay = monitor.delayMs()
        if (delay > maxDelayMs && request.routeOptions.config.shed !== false)
          done(kitErrors.OVERLOADED(`overloaded (event-loop delay ${Math.round(delay)} ms)`))
        else done()
      })
    }
  },
  { name: 'event-loop' },
)
