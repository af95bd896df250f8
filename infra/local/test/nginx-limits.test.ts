import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createCrowd } from '../src/clients.ts'
import { startNginx, stopNginx } from '../src/nginx.ts'
import { rawRequest } from './support/raw-http.ts'

const port = 18_097

const raw = (request: string) => rawRequest(port, request)

t.test('nginx refuses oversized and malformed requests itself, each with a JSON code, before any replica sees them', async (t) => {
  let reached = 0
  const replica = createServer((_request, response) => {
    reached++
    response.setHeader('content-type', 'application/json').end('{"ok":true}')
  })
  await new Promise<void>((resolve) => replica.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => replica.close(resolve)))
  const address = `127.0.0.1:${(replica.address() as AddressInfo).port}`
  const nginx = await startNginx({ prefix: t.testdir(), port, upstreams: { 'user-api': [address], 'coupon-api': [], 'event-apply': [], 'batch-worker': [] } })
  t.teardown(() => stopNginx(nginx))

  const ok = await raw('GET /users/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.same([ok.status, ok.body], [200, '{"ok":true}'], 'a normal request reaches the replica')

  const body = JSON.stringify({ amount: 100, category: 'x', pad: 'x'.repeat(20_000) })
  const cases: [string, string, number, string][] = [
    [
      'body over 16 KiB',
      `POST /users/1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      413,
      'PAYLOAD_TOO_LARGE',
    ],
    ['one header over 8 KiB', `GET /users/1 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(9_000)}\r\nConnection: close\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
    ['request line over 8 KiB', `GET /users/${'1'.repeat(9_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 414, 'URI_TOO_LONG'],
    ['malformed request line', 'GARBAGE\r\n\r\n', 400, 'VALIDATION'],
    ['HTTP/1.1 without Host', 'GET /users/1 HTTP/1.1\r\nConnection: close\r\n\r\n', 400, 'VALIDATION'],
  ]
  for (const [what, request, status, code] of cases) {
    const answer = await raw(request)
    t.equal(answer.status, status, what)
    t.equal(JSON.parse(answer.body).code, code, what)
  }
  t.equal(reached, 1, 'only the normal request reached the replica')
})

t.test('one address sending a burst of applications is held to its rate with 429s from nginx; other addresses pass; reads are not limited', async (t) => {
  let reached = 0
  const replica = createServer((request, response) => {
    reached++
    request.resume()
    response.setHeader('content-type', 'application/json')
    response.statusCode = request.method === 'POST' ? 201 : 200
    response.end('{"ok":true}')
  })
  await new Promise<void>((resolve) => replica.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => replica.close(resolve)))
  const address = `127.0.0.1:${(replica.address() as AddressInfo).port}`
  const limitedPort = port + 1
  const nginx = await startNginx({
    prefix: t.testdir(),
    port: limitedPort,
    upstreams: { 'user-api': [], 'coupon-api': [], 'event-apply': [address], 'batch-worker': [] },
  })
  t.teardown(() => stopNginx(nginx))
  const crowd = createCrowd(`http://127.0.0.1:${limitedPort}`, { clients: 11, connectionsEach: 4 })
  t.teardown(() => crowd.close())
  const post = (client: number) =>
    crowd
      .client(client)
      .request({ method: 'POST', path: '/events/1/applications', headers: { 'content-type': 'application/json' }, body: '{}' })
      .then(async (response) => ({ status: response.statusCode, headers: response.headers, body: await response.body.text() }))

  // Client 0 is the bot: 200 applications at once. The burst (40) and the rate (20/s) pass, not more.
  const started = performance.now()
  const bot = await Promise.all(Array.from({ length: 200 }, () => post(0)))
  const seconds = (performance.now() - started) / 1000
  const served = bot.filter((answer) => answer.status === 201).length
  // However slow the machine, no more than the burst plus the rate over the time it took.
  t.ok(served >= 41 && served <= 41 + Math.ceil(20 * seconds), `the bot got ${served} of 200 through in ${seconds.toFixed(2)} s (burst 40 + 20/s)`)
  const refused = bot.filter((answer) => answer.status === 429)
  t.equal(served + refused.length, 200, 'the rest were refused 429')
  t.same(JSON.parse(refused[0]!.body), { code: 'TOO_MANY_REQUESTS', message: 'too many requests from this address; retry later' })
  t.equal(refused[0]!.headers['retry-after'], '1')
  t.equal(reached, served, 'no refused request reached the replica')

  // Ten other people at the same moment: every one served.
  const people = await Promise.all(Array.from({ length: 10 }, (_, i) => post(1 + i)))
  t.same(
    people.map((answer) => answer.status),
    Array(10).fill(201),
  )
  const reads = await Promise.all(
    Array.from({ length: 100 }, () =>
      crowd
        .client(0)
        .request({ method: 'GET', path: '/events/1' })
        .then(async (response) => {
          await response.body.text()
          return response.statusCode
        }),
    ),
  )
  t.same(new Set(reads), new Set([200]), 'the bot’s reads are not limited (they cost a replica a memory lookup)')
})
