import t, { type Test } from 'tap'
import { Agent, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Type } from 'typebox'
import { createTestDatabase } from '@commerce/db/testing'
import type { RowDataPacket } from '@commerce/db'
import { createServiceApp } from '../src/app.ts'
import { kitErrors } from '../src/errors.ts'
import { bearer, testConfig } from '../src/testing.ts'

async function buildTestApp(t: Test) {
  const config = testConfig(await createTestDatabase(t))
  const app = await createServiceApp({ service: 'user-api', config, logger: false })
  app.get('/probe/:id', { schema: { params: Type.Object({ id: Type.Integer({ minimum: 1 }) }) } }, async (request) => {
    const who = app.auth.requireSelfOrAdmin(request, request.params.id)
    return { who }
  })
  app.get('/boom', async () => {
    throw new Error('SELECT secret FROM internals')
  })
  app.get('/gone', async () => {
    throw kitErrors.NOT_FOUND('no such thing')
  })
  app.post('/echo', { schema: { body: Type.Object({ n: Type.Integer() }) } }, async (request) => request.body)
  await app.ready()
  t.teardown(() => app.close())
  return app
}

t.test('health, readiness and registration', async (t) => {
  const app = await buildTestApp(t)
  const health = await app.inject('/health')
  t.equal(health.statusCode, 200)
  t.match(health.json(), { status: 'ok', service: 'user-api', instanceId: app.membership.id })
  t.equal(health.headers['x-instance-id'], app.membership.id)
  t.ok(health.headers['x-request-id'])
  t.equal((await app.inject('/ready')).statusCode, 200)
  const [rows] = await app.pool.query<RowDataPacket[]>('SELECT service FROM was_instances')
  t.same(
    rows.map((r) => r.service),
    ['user-api'],
  )
})

t.test('request ids from nginx are kept', async (t) => {
  const app = await buildTestApp(t)
  for (const id of ['abc-123', '0123456789abcdef0123456789abcdef', '018f3c1e-7b2a-7c3d-9e4f-0a1b2c3d4e5f', 'a'.repeat(64)]) {
    const response = await app.inject({ url: '/health', headers: { 'x-request-id': id } })
    t.equal(response.headers['x-request-id'], id)
  }
})

t.test('a request id that is long or not plain is replaced, not echoed, and the request still served', async (t) => {
  const app = await buildTestApp(t)
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
  for (const id of ['a'.repeat(65), 'a'.repeat(4096), '', ' ', 'id with spaces', '<script>', 'é', 'k\u00ff\u00fe', 'a\tb', "Robert'); DROP TABLE users;--"]) {
    const response = await app.inject({ url: '/health', headers: { 'x-request-id': id } })
    t.equal(response.statusCode, 200, JSON.stringify(id.slice(0, 20)))
    t.match(response.headers['x-request-id'], uuid, `${JSON.stringify(id.slice(0, 20))} (${id.length} chars): a fresh id instead`)
  }
})

t.test('errors have stable codes and hide internals', async (t) => {
  const app = await buildTestApp(t)
  const boom = await app.inject('/boom')
  t.equal(boom.statusCode, 500)
  t.same(boom.json(), { code: 'INTERNAL', message: 'internal error' })
  t.same((await app.inject('/gone')).json(), { code: 'NOT_FOUND', message: 'no such thing' })
  t.equal((await app.inject('/nope')).json().code, 'NOT_FOUND')
  const bad = await app.inject({ method: 'POST', url: '/echo', payload: { n: 'x' } })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'VALIDATION')
  const malformed = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: '{"n":' })
  t.equal(malformed.statusCode, 400)
  t.equal(malformed.json().code, 'VALIDATION')
  const huge = await app.inject({
    method: 'POST',
    url: '/echo',
    headers: { 'content-type': 'application/json' },
    payload: `{"n":1,"pad":"${'x'.repeat(20_000)}"}`,
  })
  t.equal(huge.statusCode, 413)
  t.equal(huge.json().code, 'PAYLOAD_TOO_LARGE')
  const text = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'text/csv' }, payload: 'n\n1' })
  t.equal(text.statusCode, 415)
})

t.test('auth: own resources only, admins everywhere', async (t) => {
  const app = await buildTestApp(t)
  t.equal((await app.inject('/probe/7')).statusCode, 401)
  t.equal((await app.inject({ url: '/probe/7', headers: { authorization: 'Bearer nope' } })).json().code, 'UNAUTHORIZED')
  t.equal((await app.inject({ url: '/probe/7', headers: { authorization: 'Basic Zm9vOmJhcg==' } })).statusCode, 401)
  t.equal((await app.inject({ url: '/probe/7', headers: bearer(7) })).statusCode, 200)
  const other = await app.inject({ url: '/probe/7', headers: bearer(8) })
  t.equal(other.statusCode, 403)
  t.equal(other.json().code, 'FORBIDDEN')
  const admin = bearer(1, 'admin')
  const { exp } = JSON.parse(Buffer.from(admin.authorization.split('.')[1] ?? '', 'base64url').toString())
  t.same((await app.inject({ url: '/probe/7', headers: admin })).json(), { who: { userId: 1, role: 'admin', expiresAtMs: exp * 1000 } })
})

t.test('metrics are exposed in Prometheus format', async (t) => {
  const app = await buildTestApp(t)
  await app.inject('/health')
  const metrics = await app.inject('/metrics')
  t.equal(metrics.statusCode, 200)
  t.match(metrics.body, /http_request_duration_seconds_bucket\{.*route="\/health"/)
  t.match(metrics.body, /nodejs_eventloop_lag_seconds/)
})

t.test('closing leaves the cluster', async (t) => {
  const config = testConfig(await createTestDatabase(t))
  const app = await createServiceApp({ service: 'coupon-api', config, logger: false })
  await app.ready()
  const pool = app.pool
  const [before] = await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM was_instances')
  t.equal(before[0]?.n, 1)
  const { createPool } = await import('@commerce/db')
  const observer = createPool({ url: config.DATABASE_URL, role: 'api' })
  t.teardown(() => observer.end())
  await app.close()
  const [after] = await observer.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM was_instances')
  t.equal(after[0]?.n, 0)
})

t.test('a request that arrives on a kept-alive connection while the app is closing is served, and closes it', async (t) => {
  const config = testConfig(await createTestDatabase(t))
  const app = await createServiceApp({ service: 'user-api', config, logger: false })
  app.post('/echo', { schema: { body: Type.Object({ n: Type.Integer() }) } }, async (request) => request.body)
  let inside!: () => void
  const closingStarted = new Promise<void>((resolve) => (inside = resolve))
  let release!: () => void
  // Holds the close in its preClose phase: closing, the connection and the pool still open.
  app.addHook('preClose', () => {
    inside()
    return new Promise<void>((resolve) => (release = resolve))
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  // One socket, kept alive: the second request rides the connection the first opened (as nginx's upstream keepalive does).
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const post = (n: number) =>
    new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/echo', method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
        let body = ''
        res.on('data', (chunk: Buffer) => (body += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }))
      })
      req.on('error', reject)
      req.end(JSON.stringify({ n }))
    })
  t.equal((await post(1)).connection, 'keep-alive')
  const closed = app.close()
  await closingStarted
  const late = await post(7)
  release()
  await closed
  t.same(late, { status: 200, connection: 'close', body: '{"n":7}' }, 'a POST nginx will not retry is served, not refused with 503')
})

t.test('an unreachable database makes /ready 503, not a hang', async (t) => {
  const config = testConfig('mysql://app:app@127.0.0.1:1/nowhere')
  const app = await createServiceApp({ service: 'user-api', config, logger: false })
  t.teardown(() => app.close())
  await app.ready()
  t.equal((await app.inject('/health')).statusCode, 200)
  const ready = await app.inject('/ready')
  t.equal(ready.statusCode, 503)
  t.equal(ready.json().code, 'NOT_READY')
})

t.test('under event-loop pressure the API routes shed (503 OVERLOADED) but liveness and metrics answer', async (t) => {
  const app = await createServiceApp({ service: 'user-api', config: testConfig(await createTestDatabase(t), { SHED_EVENT_LOOP_DELAY_MS: '1' }), logger: false })
  app.get('/work', async () => ({ ok: true }))
  await app.ready()
  t.teardown(() => app.close())
  const status = async (url: string) => (await app.inject(url)).statusCode
  // Block the loop until the pressure sample sees it, then probe between two shed requests, so
  // the pressure held while /health and /metrics were asked.
  for (let tries = 0; ; tries++) {
    const until = performance.now() + 100
    while (performance.now() < until) {
      // a busy loop: the event-loop delay that plugins/event-loop.ts measures
    }
    await new Promise((resolve) => setTimeout(resolve, 0))
    const [before, health, metrics, after] = [await status('/work'), await status('/health'), await status('/metrics'), await status('/work')]
    if (before === 503 && after === 503) {
      t.same([health, metrics], [200, 200], 'liveness and metrics are not shed')
      break
    }
    if (tries > 200) throw new Error('the event loop never looked delayed')
  }
})
