import { Pool } from 'undici'
import { createCrowd } from '@commerce/local/clients'

/**
 * An open-model load generator: requests are *scheduled* at a constant arrival rate, whatever
 * the server does, and each latency is measured from the request's scheduled time, not from
 * when it could be sent (coordinated-omission correction). autocannon is closed-loop: a slow
 * server slows its clients down and hides the queueing a real crowd would see.
 */
export interface OpenModelRequest {
  /** The methods both undici and autocannon accept, so one request spec serves either. */
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  path: string
  headers?: Record<string, string>
  body?: string
}

export interface OpenModelResult {
  /** Scheduled time (ms since start), latency from that time (ms), HTTP status (0 = network error), request index. */
  samples: { at: number; ms: number; status: number; index: number }[]
  /** The arrival rate actually offered (requests scheduled ÷ duration). */
  offeredRate: number
  networkErrors: number
  /** Network errors by code (UND_ERR_HEADERS_TIMEOUT, ECONNRESET, …). */
  errorCodes: Record<string, number>
  /** Scheduled requests the generator sent more than 10 ms late (the generator itself saturating). */
  lateSends: number
}

/** A crowd of one client from the machine's own address. */
function onePool(origin: string, options: Pool.Options) {
  const pool = new Pool(origin, options)
  return { client: () => pool, close: () => pool.close() }
}

export async function runOpenModel(options: {
  origin: string
  rate: number
  durationSec: number
  connections: number
  /** Client addresses the connections come from (nginx limits each address); request i is client i's (mod). Default: one client, the machine's own address. */
  clients?: number
  timeoutMs?: number
  request: (index: number) => OpenModelRequest
  onResponse?: (index: number, status: number, body: string) => void
  /** Stops scheduling new arrivals (those in flight still complete): a run "until something happens". */
  signal?: AbortSignal
}): Promise<OpenModelResult> {
  const poolOptions = { pipelining: 1, headersTimeout: options.timeoutMs ?? 10_000, bodyTimeout: options.timeoutMs ?? 10_000 }
  // One client by default, from the machine's own address (nginx's operator routes allow only it).
  const pool =
    options.clients === undefined
      ? onePool(options.origin, { ...poolOptions, connections: options.connections })
      : createCrowd(options.origin, { ...poolOptions, clients: options.clients, connectionsEach: Math.ceil(options.connections / options.clients) })
  const total = Math.round(options.rate * options.durationSec)
  const samples: OpenModelResult['samples'] = []
  let inFlight = 0
  let drained: () => void = () => undefined
  let networkErrors = 0
  const errorCodes: Record<string, number> = {}
  let lateSends = 0
  let next = 0
  const start = performance.now()

  const send = (index: number, scheduledAt: number) => {
    const spec = options.request(index)
    void pool
      .client(index)
      .request({ method: spec.method, path: spec.path, headers: spec.headers, body: spec.body })
      .then(async (response) => {
        const body = await response.body.text()
        samples.push({ at: scheduledAt, ms: performance.now() - start - scheduledAt, status: response.statusCode, index })
        options.onResponse?.(index, response.statusCode, body)
      })
      .catch((error: { code?: string }) => {
        networkErrors += 1
        const code = error.code ?? 'unknown'
        errorCodes[code] = (errorCodes[code] ?? 0) + 1
        samples.push({ at: scheduledAt, ms: performance.now() - start - scheduledAt, status: 0, index })
      })
      .finally(() => {
        inFlight -= 1
        if (inFlight === 0) drained()
      })
    inFlight += 1
  }

  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now() - start
      while (next < total && (next * 1000) / options.rate <= now) {
        const scheduledAt = (next * 1000) / options.rate
        if (now - scheduledAt > 10) lateSends += 1
        send(next, scheduledAt)
        next += 1
      }
      if (next >= total || options.signal?.aborted) resolve()
      // 1 ms ticks: sends go out in small bursts; a busy-spin would steal a core from the servers.
      else setTimeout(tick, 1)
    }
    tick()
  })
  // A counter, not Promise.race over the in-flight set: that attaches a reaction to every
  // pending request on each completion, O(n²) memory when a burst leaves thousands in flight.
  if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve))
  await pool.close()
  const scheduledSeconds = options.signal?.aborted ? next / options.rate : options.durationSec
  return { samples, offeredRate: next / scheduledSeconds, networkErrors, errorCodes, lateSends }
}
