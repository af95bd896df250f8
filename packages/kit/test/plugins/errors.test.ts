import t, { type Test } from 'tap'
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { Type } from 'typebox'
import { createTestDatabase } from '@commerce/db/testing'
import { createServiceApp, maxHeaderBytes } from '../../src/app.ts'
import { bearer, testConfig } from '../../src/testing.ts'

/** A listening app (the HTTP parser's own refusals need a real socket, not inject). */
async function listening(t: Test, env: Record<string, string> = {}) {
  const app = await createServiceApp({ service: 'user-api', config: testConfig(await createTestDatabase(t), env), logger: false })
  app.get(
    '/items/:id',
    {
      schema: {
        params: Type.Object({ id: Type.Integer({ minimum: 1, maximum: 1000 }) }),
        querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 500, default: 10 }) }),
      },
    },
    async (request) => ({ ...request.params, ...request.query }),
  )
  app.post('/items', { schema: { body: Type.Object({ n: Type.Integer({ minimum: 0, maximum: 10 }) }) } }, async (request) => request.body)
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, port: (app.server.address() as AddressInfo).port }
}

/** Writes raw bytes on a fresh connection and reads the whole answer until the server closes it or answers. */
function raw(port: number, request: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1')
    })
    socket.on('error', () => undefined)
    socket.on('close', () => {
      const match = /^HTTP\/1\.1 (\d{3})/.exec(text)
      if (!match) return reject(new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 200))}`))
      resolve({ status: Number(match[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) })
    })
    socket.write(request, () => socket.end())
  })
}

t.test('headers over the limit: 431 with a code, from the HTTP parser', async (t) => {
  const { port } = await listening(t)
  const answer = await raw(port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(maxHeaderBytes + 1)}\r\n\r\n`)
  t.equal(answer.status, 431)
  t.same(JSON.parse(answer.body), { code: 'HEADERS_TOO_LARGE', message: 'request headers are too large' })
})

t.test('malformed HTTP: 400 with a code', async (t) => {
  const { port } = await listening(t)
  const answer = await raw(port, 'GET /health HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n\r\n')
  t.equal(answer.status, 400)
  t.equal(JSON.parse(answer.body).code, 'VALIDATION')
})

t.test('a client too slow to send its request is cut off after REQUEST_TIMEOUT_MS', async (t) => {
  const { port } = await listening(t, { REQUEST_TIMEOUT_MS: '300' })
  const started = Date.now()
  const text = await new Promise<string>((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    socket.on('data', (chunk) => (text += chunk.toString('latin1')))
    socket.on('error', () => undefined)
    socket.on('close', () => resolve(text))
    // Headers begun and never finished (slowloris): the server closes the socket itself.
    socket.write('GET /health HTTP/1.1\r\nHost: x\r\n')
  })
  t.ok(Date.now() - started >= 250, 'closed by the timeout, not at once')
  // The socket timeout closes it silently; Node's request timeout would answer 408 with our code.
  if (text) t.match(text, /^HTTP\/1\.1 408 [\s\S]*"code":"REQUEST_TIMEOUT"/)
  else t.equal(text, '', 'closed without an answer')
})

t.test('over-size body: 413 with a code, on a real socket too', async (t) => {
  const { port } = await listening(t)
  const payload = JSON.stringify({ n: 1, pad: 'x'.repeat(20_000) })
  const answer = await raw(
    port,
    `POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\nConnection: close\r\n\r\n${payload}`,
  )
  t.equal(answer.status, 413)
  t.equal(JSON.parse(answer.body).code, 'PAYLOAD_TOO_LARGE')
})

t.test('a path that is not valid percent-encoding: 400 with a code, the URL not echoed', async (t) => {
  const { app } = await listening(t)
  for (const url of ['/items/%E0%A4%A', '/items/%zz', '/%']) {
    const response = await app.inject(url)
    t.equal(response.statusCode, 400, url)
    t.same(response.json(), { code: 'VALIDATION', message: 'the URL is not valid' }, url)
  }
})

t.test('numbers beyond range are refused even where ajv coerces them to Infinity', async (t) => {
  const { app } = await listening(t)
  t.same((await app.inject('/items/5?limit=7')).json(), { id: 5, limit: 7 })
  for (const url of ['/items/5?limit=1e400', '/items/5?limit=-1e400', '/items/1e400']) {
    const response = await app.inject({ url, headers: bearer(1) })
    t.same([response.statusCode, response.json().code], [400, 'VALIDATION'], url)
  }
  for (const payload of ['{"n":1e400}', '{"n":"1e400"}', '{"n":"-1e400"}']) {
    const response = await app.inject({ method: 'POST', url: '/items', headers: { 'content-type': 'application/json' }, payload })
    t.same([response.statusCode, response.json().code], [400, 'VALIDATION'], payload)
  }
})

t.test('no route: 404 NOT_FOUND without echoing the path', async (t) => {
  const { app } = await listening(t)
  const response = await app.inject("/nowhere/'%20UNION%20SELECT%20name%20FROM%20users--")
  t.equal(response.statusCode, 404)
  t.same(response.json(), { code: 'NOT_FOUND', message: 'no route for GET on this path' })
})

t.test('a statement that outlives its client-side timeout answers 503 UNAVAILABLE with Retry-After, not 500', async (t) => {
  const app = await createServiceApp({ service: 'user-api', config: testConfig(await createTestDatabase(t)), logger: false })
  app.get('/slow', async () => {
    await app.pool.query({ sql: 'SELECT SLEEP(2)', timeout: 100 })
    return { ok: true }
  })
  t.teardown(() => app.close())
  const answer = await app.inject('/slow')
  t.equal(answer.statusCode, 503)
  t.equal(answer.json().code, 'UNAVAILABLE')
  t.equal(answer.headers['retry-after'], '1')
})

t.test('a Galera node that refuses statements (not in the Primary component) is a 503 with Retry-After, not a 500', async (t) => {
  const app = await createServiceApp({ service: 'user-api', config: testConfig(await createTestDatabase(t)), logger: false })
  t.teardown(() => app.close())
  // What mysql2 raises when the node answers 1047 "WSREP has not yet prepared node for application use".
  app.get('/cut-off', async () => {
    throw Object.assign(new Error('WSREP has not yet prepared node for application use'), { code: 'ER_UNKNOWN_COM_ERROR', errno: 1047 })
  })
  await app.ready()
  const answer = await app.inject('/cut-off')
  t.equal(answer.statusCode, 503)
  t.equal(answer.json().code, 'UNAVAILABLE')
  t.notMatch(answer.body, /WSREP/, 'the internals stay hidden')
})
