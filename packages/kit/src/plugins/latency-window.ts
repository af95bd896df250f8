import { performance } from 'node:perf_hooks'
import fp from 'fastify-plugin'
import { Type, type Static } from 'typebox'
import { encodeLatencyCounts, latencyBucketCount, latencyBucketOf, p99UsOf, type LoadSummary } from '@commerce/cluster'

export const latencyWindowConfigProperties = {
  /** How far back the latency this replica reports with each heartbeat reaches (its p99 and rate). */
  LOAD_WINDOW_MS: Type.Integer({ minimum: 500, maximum: 60_000, default: 1_000 }),
  /** How often this replica writes that summary into its membership row (the batch reads it there). */
  LOAD_REPORT_MS: Type.Integer({ minimum: 50, maximum: 60_000, default: 250 }),
}
const latencyWindowConfigSchema = Type.Object(latencyWindowConfigProperties)
export type LatencyWindowConfig = Static<typeof latencyWindowConfigSchema>

const slotMs = 250

/**
 * Latencies of the last `windowMs`, in slots of 250 ms that are reused as time moves on: constant
 * memory and O(1) per request, whatever the rate. `summary()` is the counts per bucket, their p99
 * and the rate over the slots still inside the window (buckets: @commerce/cluster's load-report.ts).
 */
export function createLatencyWindow({ windowMs, now = () => performance.now() }: { windowMs: number; now?: () => number }) {
  const slotCount = Math.ceil(windowMs / slotMs)
  const slots = Array.from({ length: slotCount }, () => ({ id: -1, total: 0, counts: new Array<number>(latencyBucketCount).fill(0) }))

  return {
    record(ms: number): void {
      const id = Math.floor(now() / slotMs)
      const slot = slots[id % slotCount]
      if (!slot) return
      if (slot.id !== id) {
        slot.counts.fill(0)
        slot.total = 0
        slot.id = id
      }
      const bucket = latencyBucketOf(ms)
      slot.counts[bucket] = (slot.counts[bucket] ?? 0) + 1
      slot.total += 1
    },
    summary(): LoadSummary {
      const current = Math.floor(now() / slotMs)
      const live = slots.filter((slot) => slot.id > current - slotCount)
      const total = live.reduce((sum, slot) => sum + slot.total, 0)
      const rps = total / (windowMs / 1000)
      const counts = new Array<number>(latencyBucketCount).fill(0)
      for (const slot of live) {
        slot.counts.forEach((count, bucket) => {
          counts[bucket] = (counts[bucket] ?? 0) + count
        })
      }
      return { p99Us: p99UsOf(counts), rps, counts: encodeLatencyCounts(counts) }
    },
  }
}

export type LatencyWindow = ReturnType<typeof createLatencyWindow>

declare module 'fastify' {
  interface FastifyInstance {
    latencyWindow: LatencyWindow
  }
}

/** Probes are not what a client feels; they stay out of the latency a replica reports. */
const probeRoutes = new Set(['/health', '/ready', '/metrics'])

/** Every answered request's latency (probes aside) into the window the membership heartbeat reports. */
export default fp<{ config: LatencyWindowConfig }>(
  async (app, { config }) => {
    const window = createLatencyWindow({ windowMs: config.LOAD_WINDOW_MS })
    app.decorate('latencyWindow', window)
    app.addHook('onResponse', (request, reply, done) => {
      if (!probeRoutes.has(request.routeOptions.url ?? '')) window.record(reply.elapsedTime)
      done()
    })
  },
  { name: 'latency-window' },
)
