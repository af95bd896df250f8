import t from 'tap'
import { auditEvent, formatAudit } from '@commerce/audit'
import { createPool } from '@commerce/db'
import { createTestDatabase } from '@commerce/db/testing'
import { signToken } from '@commerce/kit'
import { createEventThrough, floodEvent } from '../src/flood.ts'
import { localAuthSecret } from '../src/secret.ts'
import { startStack } from '../src/stack.ts'

// DESIGN §9 invariant 4 under a crash: applications flood two event-apply replicas through
// nginx; one replica is killed with SIGKILL mid-flood. Every 201 a client received must be in
// the table (a 201 is sent only after the group commit), with one entry per phone.
t.test('kill -9 of an event-apply replica during a flood loses no acknowledged application', async (t) => {
  const databaseUrl = await createTestDatabase(t)
  const pool = createPool({ url: databaseUrl, role: 'api' })
  t.teardown(() => pool.end())
  const stack = await startStack({
    databaseUrl,
    dir: t.testdir(),
    replicas: 2,
    batchWorkers: 0,
    portBase: 17_000,
    httpPort: 18_090,
    heartbeatMs: 200,
    env: { LOG_LEVEL: 'warn', EVENT_FLUSH_MS: '5' },
  })
  t.teardown(() => stack.stop())

  const now = Date.now()
  const eventId = await createEventThrough(stack.url, signToken(localAuthSecret(), { userId: 1, role: 'admin' }), {
    title: 'flood',
    opensAt: new Date(now - 60_000),
    closesAt: new Date(now + 3_600_000),
    winnerQuota: 1_000_000,
    announceAt: new Date(now + 7_200_000),
  })

  let killed = false
  const killAt = 1_500
  const flood = await floodEvent({
    origin: stack.url,
    eventId,
    requests: 3_500,
    connections: 32,
    onResponse: async (_status, sofar) => {
      if (killed || sofar.acknowledged.length < killAt) return
      killed = true
      await stack.killReplica('event-apply', 0)
    },
  })
  t.ok(killed, 'a replica was killed mid-flood')
  t.comment(`responses: ${[...flood.statuses].map(([s, n]) => `${n} × ${s || 'network error'}`).join(', ')}`)
  t.ok(flood.acknowledged.length > killAt, `${flood.acknowledged.length} applications acknowledged`)

  // Only requests in flight on the killed replica may fail; from then on nginx routes every
  // request to the survivor (a refused connection means the POST was never sent, so it is retried).
  const after = await floodEvent({ origin: stack.url, eventId, requests: 500, connections: 8, phoneBase: 30_000_000 })
  t.same(
    [...after.statuses],
    [
      [201, 450],
      [409, 50],
    ],
    'after the crash every request is answered by the survivor',
  )

  const audit = await auditEvent(pool, { eventId, acknowledged: [...flood.acknowledged, ...after.acknowledged] })
  t.ok(audit.ok, formatAudit(audit))
})
