import t, { type Test } from 'tap'
import type { ResultSetHeader, RowDataPacket } from '@commerce/db'
import { createTestDatabase } from '@commerce/db/testing'
import { signToken } from '@commerce/kit'
import { bearer, testEnv, testSecret } from '@commerce/kit/testing'
import { buildApp } from '../../src/app.ts'
import type { Clock } from '../../src/clock.ts'
import { loadServiceConfig } from '../../src/config.ts'
import type { ConsoleSnapshot } from '../../src/console/snapshot.ts'

const quiet = { BATCH_SCHEDULE_ENABLED: 'false', EVENT_SCHEDULE_ENABLED: 'false', BATCH_DAEMON_POLL_MS: '60000', EVENT_POLL_MS: '60000' }
const admin = bearer(1, 'admin')

async function daemon(t: Test, env: Record<string, string> = {}, clock?: Clock) {
  const app = await buildApp({ config: loadServiceConfig(testEnv(await createTestDatabase(t), { ...quiet, ...env })), logger: false, clock })
  t.teardown(() => app.close())
  await app.ready()
  return app
}
type App = Awaited<ReturnType<typeof daemon>>

async function snapshot(app: App): Promise<ConsoleSnapshot> {
  const response = await app.inject({ url: '/console/api/snapshot', headers: admin })
  if (response.statusCode !== 200) throw new Error(`snapshot answered ${response.statusCode}: ${response.body}`)
  return response.json()
}

async function closedEvent(app: App, quota = 2): Promise<number> {
  const [event] = await app.pool.query<ResultSetHeader>(
    "INSERT INTO events (title, opens_at, closes_at, winner_quota, announce_at) VALUES ('closed one', NOW(6) - INTERVAL 2 HOUR, NOW(6) - INTERVAL 1 HOUR, ?, NOW(6) + INTERVAL 1 HOUR)",
    [quota],
  )
  return event.insertId
}

t.test('the page: three files of its own, a strict content security policy, /console redirects', async (t) => {
  const app = await daemon(t)
  for (const [url, type] of [
    ['/console/', 'text/html'],
    ['/console/console.js', 'text/javascript'],
    ['/console/console.css', 'text/css'],
  ] as const) {
    const response = await app.inject(url)
    t.equal(response.statusCode, 200, url)
    t.match(response.headers['content-type'], type, `${url} is ${type}`)
    t.match(response.headers['content-security-policy'], "default-src 'self'", `${url}: nothing from elsewhere`)
  }
  const page = (await app.inject('/console/')).body
  t.notMatch(page, /https?:\/\//, 'no CDN or other origin in the page')
  t.notMatch(page, /<script>|style=/, 'no inline script or style (the policy would refuse them)')
  const redirect = await app.inject('/console')
  t.same([redirect.statusCode, redirect.headers.location], [301, '/console/'])
})

t.test('the snapshot: runs, the newest run’s chunks, members, events and deferred redemptions', async (t) => {
  const app = await daemon(t, { CONSOLE_REFRESH_MS: '100' })
  await app.pool.query("INSERT INTO users (id, name) VALUES (1, 'u'), (2, 'v')")
  await app.pool.query("INSERT INTO orders (user_id, amount, category, status, ordered_at) VALUES (1, 100, 'books', 'PAID', '2026-10-05 00:00:00')")
  const eventId = await closedEvent(app)
  await app.pool.query(
    "INSERT INTO event_applications (id, event_id, name, phone, received_at, replica_id, replica_seq) VALUES (UNHEX(REPLACE(UUID(), '-', '')), ?, 'a', '01000000001', NOW(6), UNHEX(REPLACE(UUID(), '-', '')), 1)",
    [eventId],
  )
  const requested = await app.inject({ method: 'POST', url: '/console/api/runs', payload: { period: '2026-10' }, headers: admin })
  t.equal(requested.statusCode, 202, 'the console requests a run through the same route')

  const seen = await snapshot(app)
  t.match(seen.runs, [{ id: requested.json().id, period: '2026-10', status: 'REQUESTED' }], 'the requested run')
  t.match(seen.timeline, { runId: requested.json().id, chunks: [], events: [] }, 'not planned yet: no chunks')
  t.match(seen.members, [{ id: app.membership.id, service: 'batch-worker', alive: true, rank: 0 }], 'this daemon, live, rank 0, judged on the database clock')
  t.match(seen.events, [{ id: eventId, state: 'CLOSED', applications: 1, applicationsCapped: false, quota: 2, winners: 0 }])
  t.same(seen.redemptions, { pending: 0, oldestPendingSeconds: null, appliedLastMinute: 0 })

  const drawn = await app.inject({ method: 'POST', url: `/console/api/events/${eventId}/draw`, headers: admin })
  t.same(drawn.json(), { eventId, outcome: 'DRAWN', winners: 1 }, 'an early draw from the console')
  await t.resolves(async () => {
    for (;;) {
      const { events } = await snapshot(app)
      if (events[0]?.state === 'DRAWN') return t.equal(events[0].winners, 1, 'drawn, one winner')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })
})

t.test('actions keep the API’s rules: validation codes, dry run writes nothing, a stale member is marked dead', async (t) => {
  const app = await daemon(t)
  await app.pool.query("INSERT INTO users (id, name) VALUES (1, 'u')")
  await app.pool.query("INSERT INTO orders (user_id, amount, category, status, ordered_at) VALUES (1, 300000, 'books', 'PAID', '2026-10-05 00:00:00')")
  const typo = await app.inject({ method: 'POST', url: '/console/api/runs?dryRun=true', payload: { period: '2026-13' }, headers: admin })
  t.same([typo.statusCode, typo.json().code], [400, 'VALIDATION'], 'an operator’s typo (month 13) is refused with its code')
  const preview = await app.inject({ method: 'POST', url: '/console/api/runs?dryRun=true', payload: { period: '2026-10' }, headers: admin })
  t.match(preview.json(), { period: '2026-10', dryRun: true, targets: 1 })
  const [[runs]] = await app.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM batch_runs')
  t.equal(Number(runs?.n), 0, 'the dry run wrote nothing')
  const early = await app.inject({ method: 'POST', url: '/console/api/events/999999/draw', headers: admin })
  t.same([early.statusCode, early.json().code], [404, 'EVENT_NOT_FOUND'])

  // A member whose heartbeat stopped six beats ago (HEARTBEAT_MS 100): dead by the members' rule (4), not yet pruned (10).
  await app.pool.query(
    "INSERT INTO was_instances (id, service, host, pid, started_at, last_heartbeat) VALUES (UNHEX(REPLACE(UUID(), '-', '')), 'user-api', 'h', 1, NOW(6), NOW(6) - INTERVAL 600000 MICROSECOND)",
  )
  t.match(
    (await snapshot(app)).members.find((member) => member.service === 'user-api'),
    { alive: false, rank: null },
  )
})

t.test('a finished run shows no pace, even while its workers still report the last one they set', async (t) => {
  const app = await daemon(t, { CONSOLE_REFRESH_MS: '100' })
  const [run] = await app.pool.query<ResultSetHeader>(
    "INSERT INTO batch_runs (job, period, status, strategy, chunk_size, chunk_count, target_count) VALUES ('monthly-grade', '2026-10', 'RUNNING', 'bulk', 10, 1, 1)",
  )
  // This daemon's own row, as a worker writes it at its pacing decisions (it keeps it after the run).
  await app.pool.query("UPDATE was_instances SET pacing_run_id = ?, pacing_level = 0.5, pacing_reason = 'backoff' WHERE service = 'batch-worker'", [
    run.insertId,
  ])
  t.match((await snapshot(app)).timeline?.pacing, [{ level: 0.5, reason: 'backoff' }], 'RUNNING: the pace its worker reported')
  await app.pool.query("UPDATE batch_runs SET status = 'COMPLETED', finished_at = NOW(6) WHERE id = ?", [run.insertId])
  let seen = await snapshot(app)
  // The cached snapshot is at most CONSOLE_REFRESH_MS old: wait for one that read the COMPLETED run.
  while (seen.runs[0]?.status !== 'COMPLETED') {
    await new Promise((resolve) => setTimeout(resolve, 20))
    seen = await snapshot(app)
  }
  t.same(seen.timeline?.pacing, [], 'COMPLETED: no pace, as GET /runs answers')
})

t.test('one read per refresh interval, however many pages ask', async (t) => {
  const app = await daemon(t, { CONSOLE_REFRESH_MS: '60000' })
  const first = await Promise.all(Array.from({ length: 20 }, () => snapshot(app)))
  t.equal(new Set(first.map((seen) => seen.generatedAt)).size, 1, '20 concurrent pages share one read')
  await closedEvent(app)
  const later = await snapshot(app)
  t.equal(later.generatedAt, first[0]?.generatedAt, 'within the interval, the cached snapshot (the new event is not read yet)')
  t.same(later.events, [])
})

t.test('the stream: a snapshot at once, another when something changes, and it ends when the daemon stops', async (t) => {
  const app = await daemon(t, { CONSOLE_REFRESH_MS: '100' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (!address || typeof address === 'string') throw new Error('no port')
  const response = await fetch(`http://127.0.0.1:${address.port}/console/api/stream`, { headers: admin })
  t.equal(response.status, 200)
  t.match(response.headers.get('content-type'), 'text/event-stream')
  t.equal(response.headers.get('x-accel-buffering'), 'no', 'nginx does not buffer it')
  if (!response.body) throw new Error('no body')
  const body = response.body.pipeThrough(new TextDecoderStream())

  const snapshots: ConsoleSnapshot[] = []
  let buffer = ''
  const events = (async () => {
    for await (const chunk of body) {
      buffer += chunk
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const data = block.match(/^event: snapshot\ndata: (.*)$/s)?.[1]
        if (data) snapshots.push(JSON.parse(data))
      }
    }
  })()
  const until = async (condition: () => boolean) => {
    while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20))
  }
  await until(() => snapshots.length >= 1)
  t.same(snapshots[0]?.events, [], 'the first snapshot: no events yet')
  const eventId = await closedEvent(app)
  await until(() => snapshots.some((seen) => seen.events[0]?.id === eventId))
  t.pass('the change arrived on the stream')
  await app.close()
  await events
  t.pass('closing the daemon ended the open stream')
})

t.test('the stream ends at its token’s expiry, judged on the service’s clock, and says why', async (t) => {
  const token = signToken(testSecret, { userId: 1, role: 'admin' }, 3600)
  const expiresAtMs = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).exp * 1000
  // The service's clock, set by the test: `beforeExpiryMs` before the token's exp when a stream opens, then running.
  let skewMs = 0
  const clock: Clock = async () => new Date(Date.now() + skewMs)
  const app = await daemon(t, { CONSOLE_REFRESH_MS: '100' }, clock)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (!address || typeof address === 'string') throw new Error('no port')
  const open = (beforeExpiryMs: number) => {
    skewMs = expiresAtMs - beforeExpiryMs - Date.now()
    return fetch(`http://127.0.0.1:${address.port}/console/api/stream`, { headers: { authorization: `Bearer ${token}` } })
  }

  // The service's clock is set as the request leaves, so the expiry is a second after this instant
  // (not after the answer arrived: a busy machine may take most of that second to answer).
  const opened = performance.now()
  const response = await open(1_000)
  t.equal(response.status, 200, 'a second before its expiry, the token opens the stream')
  if (!response.body) throw new Error('no body')
  const blocks: { kind: string | undefined; data: string | undefined; afterMs: number }[] = []
  let buffer = ''
  const reading = (async () => {
    for await (const chunk of response.body!.pipeThrough(new TextDecoderStream())) {
      buffer += chunk
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        blocks.push({ kind: block.match(/^event: (.*)$/m)?.[1], data: block.match(/^data: (.*)$/m)?.[1], afterMs: performance.now() - opened })
      }
    }
    return 'ended'
  })()
  // A bound that only catches the hang: the expiry is one second away.
  const outcome = await Promise.race([reading, new Promise((resolve) => setTimeout(resolve, 20_000, 'still open 20 s later'))])
  t.equal(outcome, 'ended', 'the stream ended by itself')
  const events = blocks.filter((block) => block.kind !== undefined)
  t.equal(events[0]?.kind, 'snapshot', 'snapshots while the token is valid')
  const expired = events.findIndex((event) => event.kind === 'expired')
  t.equal(expired, events.length - 1, 'the last event, and nothing after it, says why it ended')
  t.match(JSON.parse(events[expired]?.data ?? '{}'), { code: 'UNAUTHORIZED', message: /expired/ }, 'the same code every other route gives that token')
  t.ok((events[expired]?.afterMs ?? 0) >= 950, 'not before the expiry')

  const late = await open(-500)
  t.equal(late.status, 401, 'past its expiry on the service’s clock, the stream does not open')
  await late.body?.cancel()
})
