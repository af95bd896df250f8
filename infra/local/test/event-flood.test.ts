import t from 'tap'
import { Pool as HttpPool } from 'undici'
import { auditEvent, formatAudit } from '@commerce/audit'
import { createPool } from '@commerce/db'
import { createTestDatabase } from '@commerce/db/testing'
import { signToken } from '@commerce/kit'
import { localAuthSecret } from '../src/secret.ts'
import { startStack } from '../src/stack.ts'

// DESIGN §9 invariant 4 under a crash: applications flood two event-apply replicas through
// nginx; one replica is killed with SIGKILL mid-flood. Every 201 a client received must be in
// the table (a 201 is sent only after the group commit), with one entry per phone.
t.test('kill -9 of an event-apply replica during a flood loses no acknowledged application', async (t) => {
  const databaseUrl = await createTestDatabase(t)
  const pool = createPool({ url: databaseUrl, role: 'api' })
  t.teardown(() => pool.end())
  const stack = await startStack({ databaseUrl, dir: t.testdir(), replicas: 2, batchWorkers: 0, portBase: 17_000, httpPort: 18_090, heartbeatMs: 200, env: { LOG_LEVEL: 'warn', EVENT_FLUSH_MS: '5' } })
  t.teardown(() => stack.stop())

  const admin = `Bearer ${signToken(localAuthSecret(), { userId: 1, role: 'admin' })}`
  const now = Date.now()
  const created = await fetch(`${stack.url}/events`, {
    method: 'POST',
    headers: { authorization: admin, 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'flood', opensAt: new Date(now - 60_000).toISOString(), closesAt: new Date(now + 3_600_000).toISOString(), winnerQuota: 1_000_000, announceAt: new Date(now + 7_200_000).toISOString() }),
  })
  t.equal(created.status, 201)
  const eventId = Number(((await created.json()) as { id: number }).id)

  const http = new HttpPool(stack.url, { connections: 32 })
  t.teardown(() => http.close())
  const acknowledged: string[] = []
  const statuses = new Map<number, number>()
  let sent = 0
  let killed = false
  // 32 clients, each sending applications back to back; every 10th repeats an earlier phone.
  const client = async () => {
    while (!killed || sent < killAt + 2_000) {
      const n = sent++
      const phone = `010${String(20_000_000 + (n % 10 === 9 ? n - 5 : n)).slice(-8)}`
      const status = await http
        .request({ method: 'POST', path: `/events/${eventId}/applications`, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: `a${n}`, phone }) })
        .then(async (response) => {
          const body = await response.body.text()
          if (response.statusCode === 201) acknowledged.push((JSON.parse(body) as { applicationId: string }).applicationId)
          return response.statusCode
        })
        .catch(() => 0)
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
      if (!killed && acknowledged.length >= killAt) {
        killed = true
        await stack.killReplica('event-apply', 0)
      }
    }
  }
  const killAt = 1_500
  await Promise.all(Array.from({ length: 32 }, client))
  t.ok(killed, 'a replica was killed mid-flood')
  t.comment(`responses: ${[...statuses].map(([s, n]) => `${n} × ${s || 'network error'}`).join(', ')}`)
  t.ok(acknowledged.length > killAt, `${acknowledged.length} applications acknowledged`)
  // Only requests in flight on the killed replica may fail; from then on nginx routes every
  // request to the survivor (a refused connection means the POST was never sent, so it is retried).
  statuses.clear()
  const afterKill = sent + 500
  killed = true
  const more = async () => {
    while (sent < afterKill) {
      const n = sent++
      const response = await http.request({ method: 'POST', path: `/events/${eventId}/applications`, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: `b${n}`, phone: `010${String(20_000_000 + n).slice(-8)}` }) })
      const body = await response.body.text()
      if (response.statusCode === 201) acknowledged.push((JSON.parse(body) as { applicationId: string }).applicationId)
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
    }
  }
  await Promise.all(Array.from({ length: 8 }, more))
  t.same([...statuses], [[201, 500]], 'after the crash every request is answered by the survivor')
  const audit = await auditEvent(pool, { eventId, acknowledged })
  t.ok(audit.ok, formatAudit(audit))
})
