import { signToken } from '@commerce/kit'
import { createCrowd } from './clients.ts'
import { localAuthSecret } from './secret.ts'

/**
 * The Authorization of applicant `person` (its own account: user id 1e9 + person), as the local
 * stack signs tokens. Events are for signed-in customers by default, one entry per account: the
 * same person always has the same account, so a repeated person is a duplicate either way.
 */
export function applicantAuthorization(person: number, secret: string): string {
  return `Bearer ${signToken(secret, { userId: 1_000_000_000 + person, role: 'user' })}`
}

export interface FloodResult {
  /** HTTP status → count; 0 = network error. */
  statuses: Map<number, number>
  /** Application ids answered 201. */
  acknowledged: string[]
  /** Latency of each request, ms. */
  latencies: number[]
  seconds: number
}

/**
 * `requests` applications to one event from `connections` clients sending back to back (a
 * closed loop: what a demo or a crash test needs, not a latency benchmark, which must be open
 * model — see loadtest/). Every 10th request repeats the person (phone and account) of one sent 5 earlier.
 */
export async function floodEvent({
  origin,
  eventId,
  requests,
  connections,
  phoneBase = 20_000_000,
  authSecret: secret = localAuthSecret(),
  onResponse,
}: {
  origin: string
  eventId: number
  requests: number
  connections: number
  phoneBase?: number
  /** The stack's AUTH_SECRET, which signs each applicant's token. */
  authSecret?: string
  onResponse?: (status: number, result: FloodResult) => void | Promise<void>
}): Promise<FloodResult> {
  // nginx limits each client address (a burst of 40, then 20/s): the flood is people, each sending
  // at most that burst from an address of its own, so the limit never decides an outcome here.
  const http = createCrowd(origin, { clients: Math.max(connections, Math.ceil(requests / 40)), connectionsEach: 1 })
  const result: FloodResult = { statuses: new Map(), acknowledged: [], latencies: [], seconds: 0 }
  const started = performance.now()
  let sent = 0
  const client = async () => {
    while (sent < requests) {
      const n = sent++
      const person = phoneBase + (n % 10 === 9 ? n - 5 : n)
      const phone = `010${String(person).slice(-8)}`
      const at = performance.now()
      const status = await http
        .client(n)
        .request({
          method: 'POST',
          path: `/events/${eventId}/applications`,
          headers: { 'content-type': 'application/json', authorization: applicantAuthorization(person, secret) },
          body: JSON.stringify({ name: `applicant ${n}`, phone }),
        })
        .then(async (response) => {
          const body = await response.body.text()
          if (response.statusCode === 201) result.acknowledged.push((JSON.parse(body) as { applicationId: string }).applicationId)
          return response.statusCode
        })
        .catch(() => 0)
      result.latencies.push(performance.now() - at)
      result.statuses.set(status, (result.statuses.get(status) ?? 0) + 1)
      await onResponse?.(status, result)
    }
  }
  try {
    await Promise.all(Array.from({ length: connections }, client))
  } finally {
    await http.close()
  }
  result.seconds = (performance.now() - started) / 1000
  return result
}

/** Creates an event through nginx (admin token); returns its id. */
export async function createEventThrough(
  origin: string,
  adminToken: string,
  event: { title: string; opensAt: Date; closesAt: Date; winnerQuota: number; announceAt: Date },
): Promise<number> {
  const response = await fetch(`${origin}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      ...event,
      opensAt: event.opensAt.toISOString(),
      closesAt: event.closesAt.toISOString(),
      announceAt: event.announceAt.toISOString(),
    }),
  })
  if (response.status !== 201) throw new Error(`POST /events answered ${response.status}: ${await response.text()}`)
  return Number(((await response.json()) as { id: number }).id)
}
