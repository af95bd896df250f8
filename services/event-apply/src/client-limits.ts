/**
 * Per-client token buckets of one replica, with no shared state: with R replicas behind
 * round-robin a client gets at most R × `perSecond` in all (the edge's per-address limit,
 * infra/nginx, is the cluster-wide one). event-apply keys them on the verified account.
 * Memory is bounded: beyond `maxClients` the least recently seen client is forgotten, which
 * only ever gives it a full bucket back, never takes one from anyone else.
 */
export function createClientLimits({
  perSecond,
  burst,
  maxClients,
  nowMs = () => performance.now(),
}: {
  perSecond: number
  burst: number
  maxClients: number
  /** Monotonic milliseconds. */
  nowMs?: () => number
}) {
  /** Client → its bucket; Map order is recency (a touched client moves to the end). */
  const buckets = new Map<string, { tokens: number; atMs: number }>()

  return {
    /** Takes one request's token; false when the client is over its rate. */
    take(client: string): boolean {
      const now = nowMs()
      const bucket = buckets.get(client) ?? { tokens: burst, atMs: now }
      buckets.delete(client)
      buckets.set(client, bucket)
      if (buckets.size > maxClients) buckets.delete(buckets.keys().next().value as string)
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.atMs) / 1000) * perSecond)
      bucket.atMs = now
      if (bucket.tokens < 1) return false
      bucket.tokens -= 1
      return true
    },
    size: () => buckets.size,
  }
}

export type ClientLimits = ReturnType<typeof createClientLimits>
