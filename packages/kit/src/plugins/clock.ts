import fp from 'fastify-plugin'
import { Type } from 'typebox'
import { Gauge } from 'prom-client'
import { createConnection } from 'mysql2/promise'
import { databaseTopology, type Pool, type RowDataPacket } from '@commerce/db'
import { createPollingLoop } from '@commerce/cluster'
import type { BaseConfig } from '../config.ts'

/** The clock plugin's settings, part of every service's config (config.ts spreads them in). */
export const clockConfigProperties = {
  /** `/ready` fails while this replica's clock is further than this from the database's. */
  CLOCK_MAX_OFFSET_MS: Type.Integer({ minimum: 1, maximum: 3_600_000, default: 500 }),
  /** How often the offset to the database clock is measured again. */
  CLOCK_SYNC_MS: Type.Integer({ minimum: 50, maximum: 600_000, default: 10_000 }),
  /** Round trips per measurement; the one with the shortest round trip is kept. */
  CLOCK_SYNC_SAMPLES: Type.Integer({ minimum: 1, maximum: 20, default: 5 }),
  /** On Galera, `/ready` fails while this replica's node's clock is further than this from the median of the nodes' clocks. */
  CLOCK_MAX_NODE_SKEW_MS: Type.Integer({ minimum: 1, maximum: 3_600_000, default: 500 }),
}

/** One measurement: database time minus local time, and the round trip it was read within. */
export interface ClockSample {
  offsetMs: number
  roundTripMs: number
}

/**
 * NTP's estimate: read the database clock between two local readings and assume it was read
 * half-way, so the error is at most half the round trip; of `samples` tries the shortest round
 * trip (least queueing) wins. Rejects only when no try succeeded.
 */
export async function measureOffset(dbNowMs: () => Promise<number>, localMs: () => number, samples: number): Promise<ClockSample> {
  let best: ClockSample | undefined
  let failure: unknown
  for (let i = 0; i < samples; i += 1) {
    try {
      const t0 = localMs()
      const db = await dbNowMs()
      const t1 = localMs()
      if (!best || t1 - t0 < best.roundTripMs) best = { offsetMs: db - (t0 + t1) / 2, roundTripMs: t1 - t0 }
    } catch (error) {
      failure = error
    }
  }
  if (!best) throw failure
  return best
}

/**
 * This replica's view of the database clock: the local monotonic clock plus the last measured
 * offset. Readings never go backwards: when a new measurement lowers the offset, time stands
 * still until the local clock catches up (ties within a replica keep its sequence order).
 */
export function createDbClock({
  dbNowMs,
  localMs = () => performance.timeOrigin + performance.now(),
  samples,
  maxOffsetMs,
}: {
  /** The database's current time in ms since the epoch (µs in the fraction). */
  dbNowMs: () => Promise<number>
  /** Local wall time from a monotonic source: never stepped by NTP or an operator. */
  localMs?: () => number
  samples: number
  maxOffsetMs: number
}) {
  let sample: ClockSample | undefined
  let last = -Infinity
  const nowMs = (): number => {
    last = Math.max(last, localMs() + (sample?.offsetMs ?? 0))
    return last
  }
  return {
    async sync(): Promise<ClockSample> {
      const measured = await measureOffset(dbNowMs, localMs, samples)
      // Readings before the first measurement were uncorrected: the first offset is not held back by them.
      if (!sample) last = -Infinity
      sample = measured
      return sample
    },
    /** The last successful measurement, if any. */
    sample: () => sample,
    /** Now on the database's clock, in ms since the epoch (uncorrected until measured). */
    nowMs,
    nowMicros: (): number => Math.round(nowMs() * 1000),
    /** Why this clock is not to be trusted, or undefined when it is. */
    untrusted(): string | undefined {
      if (!sample) return 'clock offset to the database not measured yet'
      if (Math.abs(sample.offsetMs) > maxOffsetMs) return `clock is ${Math.round(sample.offsetMs)} ms off the database's (bound ${maxOffsetMs} ms)`
      return undefined
    },
  }
}

export type DbClock = ReturnType<typeof createDbClock>

/** The server's NOW(6) in ms since the epoch (µs in the fraction), over `conn`; `timeout` where the connection has no bound of its own. */
async function readNowMs(conn: Pick<Pool, 'query'>, options: { timeout?: number } = {}): Promise<number> {
  const [[row]] = (await conn.query<RowDataPacket[]>({ sql: 'SELECT UNIX_TIMESTAMP(NOW(6)) AS now', ...options })) as [RowDataPacket[], unknown]
  return Number(row?.now) * 1000
}

/**
 * On a Galera cluster every node has its own NOW(6), and leases and heartbeats written through one
 * node are judged through another. Each node's clock is measured from this replica the way its own
 * offset is (a short connection to each member's client address, the credentials of DATABASE_URL,
 * named by its wsrep_node_name):
 * this replica's node is not trusted while it is further than `maxSkewMs` from the nodes' median.
 * One server: nothing to compare.
 */
export function createNodeClocks({
  databaseUrl,
  samples,
  maxSkewMs,
  localMs = () => performance.timeOrigin + performance.now(),
}: {
  databaseUrl: string
  samples: number
  maxSkewMs: number
  localMs?: () => number
}) {
  /** Each node's clock minus this replica's, by node name (wsrep_node_name, read over the same connection). */
  let offsets = new Map<string, number>()
  let own: string | undefined
  async function nodeOffset(address: string): Promise<{ node: string; offsetMs: number }> {
    const url = new URL(databaseUrl)
    const colon = address.lastIndexOf(':')
    url.hostname = address.slice(0, colon)
    url.port = address.slice(colon + 1)
    const conn = await createConnection({ uri: url.toString(), connectTimeout: 2_000 })
    try {
      const [[named]] = (await conn.query<RowDataPacket[]>({ sql: 'SELECT @@wsrep_node_name AS node', timeout: 2_000 })) as [RowDataPacket[], unknown]
      const sample = await measureOffset(() => readNowMs(conn, { timeout: 2_000 }), localMs, samples)
      return { node: String(named?.node), offsetMs: sample.offsetMs }
    } finally {
      conn.destroy()
    }
  }
  return {
    async sync(pool: Pool): Promise<void> {
      const topology = await databaseTopology(pool)
      if (topology.kind !== 'galera') {
        offsets = new Map()
        own = undefined
        return
      }
      const measured = new Map<string, number>()
      for (const address of topology.addresses) {
        // A member that does not answer is left out: it serves nobody either.
        const measurement = await nodeOffset(address).catch(() => undefined)
        if (measurement) measured.set(measurement.node, measurement.offsetMs)
      }
      offsets = measured
      own = topology.node
    },
    offsets: (): ReadonlyMap<string, number> => offsets,
    /** Why this replica's node's clock is not to be trusted, or undefined. */
    untrusted(): string | undefined {
      const mine = own === undefined ? undefined : offsets.get(own)
      // Two clocks that disagree cannot say which one is off: a median needs three.
      if (mine === undefined || offsets.size < 3) return undefined
      const sorted = [...offsets.values()].sort((a, b) => a - b)
      const skew = mine - (sorted[Math.floor(sorted.length / 2)] ?? mine)
      if (Math.abs(skew) > maxSkewMs) return `database node ${own}'s clock is ${Math.round(skew)} ms off the cluster's median (bound ${maxSkewMs} ms)`
      return undefined
    },
  }
}

export type NodeClocks = ReturnType<typeof createNodeClocks>

declare module 'fastify' {
  interface FastifyInstance {
    clock: DbClock
    /** The Galera nodes' clocks as this replica measured them (empty on one server). */
    nodeClocks: NodeClocks
  }
}

/**
 * Measures this replica's offset to the database clock when the app is ready and every
 * CLOCK_SYNC_MS after; exports it as clock_offset_seconds / clock_round_trip_seconds, and the
 * health plugin refuses readiness while it is unmeasured or beyond CLOCK_MAX_OFFSET_MS.
 */
export default fp<{ config: BaseConfig }>(
  async (app, { config }) => {
    const clock = createDbClock({
      dbNowMs: () => readNowMs(app.pool),
      samples: config.CLOCK_SYNC_SAMPLES,
      maxOffsetMs: config.CLOCK_MAX_OFFSET_MS,
    })
    app.decorate('clock', clock)
    const nodeClocks = createNodeClocks({ databaseUrl: config.DATABASE_URL, samples: config.CLOCK_SYNC_SAMPLES, maxSkewMs: config.CLOCK_MAX_NODE_SKEW_MS })
    app.decorate('nodeClocks', nodeClocks)
    new Gauge({
      name: 'db_node_clock_offset_seconds',
      help: 'On Galera: each node clock minus this replica clock, as last measured',
      labelNames: ['node'],
      registers: [app.metrics.registry],
      collect() {
        this.reset()
        for (const [node, offsetMs] of nodeClocks.offsets()) this.set({ node }, offsetMs / 1000)
      },
    })
    new Gauge({
      name: 'clock_offset_seconds',
      help: 'Database clock minus this replica clock, as last measured (added to local time for stamps and decisions)',
      registers: [app.metrics.registry],
      collect() {
        const sample = clock.sample()
        if (sample) this.set(sample.offsetMs / 1000)
      },
    })
    new Gauge({
      name: 'clock_round_trip_seconds',
      help: 'Round trip of the kept clock sample: twice the bound of the offset error',
      registers: [app.metrics.registry],
      collect() {
        const sample = clock.sample()
        if (sample) this.set(sample.roundTripMs / 1000)
      },
    })

    const syncing = createPollingLoop({
      intervalMs: config.CLOCK_SYNC_MS,
      tick: async () => {
        await clock.sync()
        await nodeClocks.sync(app.pool)
      },
      onError: (error) => app.log.warn({ err: error }, 'clock offset not measured; keeping the last one'),
    })
    // The first measurement is taken before the server listens, so stamps are corrected from the first request.
    app.addHook('onReady', () => syncing.start())
    // preClose: a measurement in flight finishes while the pool is still open.
    app.addHook('preClose', () => syncing.stop())
  },
  { name: 'clock', dependencies: ['db', 'metrics'] },
)
