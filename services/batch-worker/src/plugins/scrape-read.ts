import type { FastifyBaseLogger } from 'fastify'
import { Counter, Gauge, type Registry } from 'prom-client'

interface ScrapeReads {
  failed: Counter<'gauges'>
  inFlight: Set<Promise<unknown>>
}

// One counter per registry (the gauge plugins share it; tests build many apps, each its own registry).
const perRegistry = new WeakMap<Registry, ScrapeReads>()
function readsOf(registry: Registry): ScrapeReads {
  let reads = perRegistry.get(registry)
  if (!reads) {
    const inFlight = new Set<Promise<unknown>>()
    const failed = new Counter({
      name: 'batch_gauge_read_failures_total',
      help: 'Scrapes whose database read for these gauges failed: they kept their last values (stale)',
      labelNames: ['gauges'] as const,
      registers: [registry],
      async collect() {
        // prom-client calls every metric's collect in one synchronous loop, this one first (it is
        // registered first): one turn later every read of this scrape has started, and once they
        // settle this scrape's failures are counted in this scrape.
        await undefined
        await Promise.all(inFlight)
      },
    })
    reads = { failed, inFlight }
    perRegistry.set(registry, reads)
  }
  return reads
}

/**
 * One database read shared by the gauges of one concern during a scrape: prom-client collects
 * every metric at once, so the first gauge starts the read and the others await the same one.
 * A failed read is logged and counted and answers undefined, so /metrics still answers and those
 * gauges keep their last values rather than report a made-up one.
 */
export function readOncePerScrape<T>(
  read: () => Promise<T>,
  { registry, log, gauges }: { registry: Registry; log: FastifyBaseLogger; gauges: string },
): () => Promise<T | undefined> {
  const reads = readsOf(registry)
  reads.failed.inc({ gauges }, 0)
  let current: Promise<T | undefined> | undefined
  return () => {
    if (current) return current
    const started = read()
      .catch((error: unknown) => {
        reads.failed.inc({ gauges })
        log.warn({ err: error, gauges }, 'a database read for /metrics failed; its gauges keep their last values')
        return undefined
      })
      .finally(() => {
        current = undefined
        reads.inFlight.delete(started)
      })
    current = started
    reads.inFlight.add(started)
    return started
  }
}

/** Gauges set from one such read at each scrape; a failed read (undefined) leaves them as they were. */
export function scrapedGauges<T>(
  registry: Registry,
  read: () => Promise<T | undefined>,
  gauges: readonly { name: string; help: string; value: (read: T) => number }[],
): void {
  for (const { name, help, value } of gauges) {
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const got = await read()
        if (got !== undefined) this.set(value(got))
      },
    })
  }
}
