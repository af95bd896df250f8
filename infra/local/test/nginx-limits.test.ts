import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
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
