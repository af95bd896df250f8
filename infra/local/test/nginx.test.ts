import t, { type Test } from 'tap'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { renderTemplate, startNginx, stopNginx, upstreamServers } from '../src/nginx.ts'
import { isAlive, isPortOpen } from '../src/process.ts'

interface Upstream {
  address: string
  /** Requests that reached this replica. */
  received: number
}

/** A stand-in replica: `healthy` answers 200, otherwise it drops every request after reading it. */
async function fakeReplica(t: Test, healthy: boolean): Promise<Upstream> {
  const upstream: Upstream = { address: '', received: 0 }
  const server: Server = createServer((req, res) => {
    upstream.received++
    if (healthy) res.end(JSON.stringify({ method: req.method }))
    else req.socket.destroy()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  upstream.address = `127.0.0.1:${(server.address() as AddressInfo).port}`
  return upstream
}

/** nginx in front of a flaky and a healthy user-api replica, the other services without any. */
async function nginxInFront(t: Test, port: number) {
  const flaky = await fakeReplica(t, false)
  const healthy = await fakeReplica(t, true)
  const nginx = await startNginx({
    prefix: t.testdir(),
    port,
    upstreams: { 'user-api': [flaky.address, healthy.address], 'coupon-api': [], 'event-apply': [], 'batch-worker': [] },
  })
  t.teardown(() => stopNginx(nginx))
  return { nginx, flaky, healthy }
}

async function send(url: string, method: 'GET' | 'POST') {
  const response = await request(url, { method, body: method === 'POST' ? '{}' : null, headers: { 'content-type': 'application/json' } })
  return { status: response.statusCode, body: await response.body.text() }
}

// biome-ignore-start lint/suspicious/noTemplateCurlyInString: nginx template placeholders, not JavaScript templates
t.test('placeholders are upper-case ${NAME}; nginx variables are left alone; a missing value is an error', async (t) => {
  t.equal(renderTemplate('listen ${LISTEN}; set $id $request_id; ${X_Y}', { LISTEN: '127.0.0.1:1', X_Y: 'z' }), 'listen 127.0.0.1:1; set $id $request_id; z')
  t.throws(() => renderTemplate('${PREFIX}/a ${LISTEN}', { PREFIX: '/p' }), { message: 'nginx template: no value for LISTEN' })
  t.equal(
    upstreamServers(['127.0.0.1:1', '127.0.0.1:2']),
    'server 127.0.0.1:1 max_fails=1 fail_timeout=2s;\n        server 127.0.0.1:2 max_fails=1 fail_timeout=2s;',
  )
})
// biome-ignore-end lint/suspicious/noTemplateCurlyInString: nginx template placeholders, not JavaScript templates

t.test('a GET that fails on one replica is retried on another', async (t) => {
  const { nginx, flaky, healthy } = await nginxInFront(t, 18_090)
  for (let i = 0; i < 4; i++) t.same(await send(`${nginx.url}/users/1`, 'GET'), { status: 200, body: '{"method":"GET"}' })
  t.equal(flaky.received, 1, 'the flaky replica got one request, then sat out')
  t.equal(healthy.received, 4, 'the healthy one answered all four, the retried one included')
})

t.test('a POST that reached a replica is never sent again', async (t) => {
  const { nginx, flaky, healthy } = await nginxInFront(t, 18_091)
  const statuses: number[] = []
  for (let i = 0; i < 4; i++) {
    const { status, body } = await send(`${nginx.url}/users/1/orders`, 'POST')
    statuses.push(status)
    if (status === 502) t.match(JSON.parse(body), { code: 'UPSTREAM_UNAVAILABLE' })
  }
  t.same(statuses.sort(), [200, 200, 200, 502])
  t.equal(flaky.received + healthy.received, 4, 'each POST reached exactly one replica')
})

t.test('a service without replicas answers 502 UPSTREAM_UNAVAILABLE; stop leaves nothing', async (t) => {
  const { nginx } = await nginxInFront(t, 18_092)
  const { status, body } = await send(`${nginx.url}/ops/batch-worker/health`, 'GET')
  t.equal(status, 502)
  t.match(JSON.parse(body), { code: 'UPSTREAM_UNAVAILABLE' })
  t.equal(await stopNginx(nginx), true)
  t.notOk(isAlive(nginx.pid))
  t.notOk(await isPortOpen(18_092))
  t.equal(await stopNginx(nginx), false, 'stopping twice is harmless')
})
