import t, { type Test } from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { request } from 'undici'
import { createTestDatabase } from '@commerce/db/testing'
import { createPool, uuidFromBytes, type Pool, type RowDataPacket } from '@commerce/db'
import type { ServiceName } from '@commerce/kit'
import { isAlive, isPortOpen, waitFor } from '../src/process.ts'
import { startStack, type Stack } from '../src/stack.ts'

// Real MariaDB, real nginx, real service processes, on ports shifted away from a dev stack
// (3100… and 8080), with a short heartbeat so a crashed replica is declared dead quickly.
const heartbeatMs = 200
const services: ServiceName[] = ['user-api', 'coupon-api', 'event-apply', 'batch-worker']

interface Health {
  status: string
  service: string
  instanceId: string
}

async function get(url: string, headers: Record<string, string> = {}) {
  const response = await request(url, { headers })
  const text = await response.body.text()
  return { status: response.statusCode, headers: response.headers, text }
}

/** The instance ids that answer `requests` health checks of a service through nginx. */
async function instancesBehindNginx(t: Test, stack: Stack, service: ServiceName, requests: number): Promise<Set<string>> {
  const seen = new Set<string>()
  for (let i = 0; i < requests; i++) {
    const { status, text } = await get(`${stack.url}/ops/${service}/health`)
    t.equal(status, 200, `${service} health through nginx`)
    const health = JSON.parse(text) as Health
    t.equal(health.service, service, 'answered by that service')
    seen.add(health.instanceId)
  }
  return seen
}

async function memberIds(pool: Pool, service: ServiceName, { liveOnly }: { liveOnly: boolean }): Promise<string[]> {
  // Liveness on the database clock, as the services judge it: dead after 4 missed beats.
  const [rows] = liveOnly
    ? await pool.query<RowDataPacket[]>('SELECT id FROM was_instances WHERE service = ? AND last_heartbeat > NOW(6) - INTERVAL ? MICROSECOND', [
        service,
        4 * heartbeatMs * 1000,
      ])
    : await pool.query<RowDataPacket[]>('SELECT id FROM was_instances WHERE service = ?', [service])
  return rows.map((row) => uuidFromBytes(row.id as Buffer))
}

/** Pids a startStack call narrated, so a failed start can be checked for leftovers. */
const narratedPids = (lines: string[]) => lines.flatMap((line) => [...line.matchAll(/\(pid (\d+)\)/g)].map((match) => Number(match[1])))

t.test('two replicas per API behind nginx: round-robin, a crash, a restart, a clean stop', async (t) => {
  const databaseUrl = await createTestDatabase(t)
  const pool = createPool({ url: databaseUrl, role: 'api' })
  t.teardown(() => pool.end())
  const dir = t.testdir()
  const stack = await startStack({ databaseUrl, dir, portBase: 13_000, httpPort: 18_080, heartbeatMs })
  t.teardown(() => stack.stop())
  const nginxPid = Number(readFileSync(join(dir, 'nginx', 'nginx.pid'), 'utf8'))
  const everyReplicaPid = stack.replicas.map((replica) => replica.pid)

  t.equal(stack.url, 'http://127.0.0.1:18080')
  t.same(
    stack.replicas.map(({ service, index, port }) => `${service}#${index}:${port}`),
    ['user-api#0:13100', 'user-api#1:13101', 'coupon-api#0:13200', 'coupon-api#1:13201', 'event-apply#0:13300', 'event-apply#1:13301', 'batch-worker#0:13400'],
  )
  t.ok(existsSync(join(dir, 'stack.json')), 'state for stack:down')

  t.test('every replica is registered in was_instances', async (t) => {
    const [rows] = await pool.query<RowDataPacket[]>('SELECT service, COUNT(*) AS members FROM was_instances GROUP BY service ORDER BY service')
    t.same(
      rows.map((row) => [row.service, Number(row.members)]),
      [
        ['batch-worker', 1],
        ['coupon-api', 2],
        ['event-apply', 2],
        ['user-api', 2],
      ],
    )
  })

  t.test('nginx spreads requests over every replica of a service', async (t) => {
    for (const service of services) {
      const expected = stack.replicas.filter((replica) => replica.service === service).map((replica) => replica.instanceId)
      t.same([...(await instancesBehindNginx(t, stack, service, 8))].sort(), expected.sort(), service)
    }
  })

  t.test('/ops/<service>/… reaches that service at its root, with the client request id', async (t) => {
    const ready = await get(`${stack.url}/ops/coupon-api/ready`, { 'x-request-id': 'stack-test-1' })
    t.equal(ready.status, 200)
    t.equal((JSON.parse(ready.text) as Health).service, 'coupon-api')
    t.equal(ready.headers['x-request-id'], 'stack-test-1', 'nginx passed the client request id on')
    const metrics = await get(`${stack.url}/ops/event-apply/metrics`)
    t.equal(metrics.status, 200)
    t.match(metrics.text, /service="event-apply"/)
    const minted = await get(`${stack.url}/ops/user-api/health`)
    t.match(minted.headers['x-request-id'], /^[0-9a-f]{32}$/, 'nginx mints an id when the client sends none')
  })

  t.test('routes reach their service; anything else is a JSON 404 from nginx', async (t) => {
    const routed = await get(`${stack.url}/users/1`)
    t.ok(routed.headers['x-instance-id'], '/users/… answered by a user-api replica')
    const coupons = await get(`${stack.url}/users/1/coupons`)
    const couponReplicas = stack.replicas.filter((r) => r.service === 'coupon-api').map((r) => r.instanceId)
    t.ok(couponReplicas.includes(coupons.headers['x-instance-id'] as string), "/users/:id/coupons is coupon-api's")
    for (const path of ['/nope', '/usersx', '/ops/nope/health']) {
      const { status, headers, text } = await get(`${stack.url}${path}`)
      t.equal(status, 404, path)
      t.match(headers['content-type'], /^application\/json/, path)
      t.same(JSON.parse(text), { code: 'NOT_FOUND', message: 'no route for this path' }, path)
      t.notOk(headers['x-instance-id'], `${path}: nginx answered itself`)
    }
  })

  t.test('a crashed replica: nginx routes around it, membership drops it, a restart brings a new one', async (t) => {
    const [crashed, survivor] = stack.replicas.filter((replica) => replica.service === 'user-api')
    const crashedId = crashed?.instanceId
    const survivorId = survivor?.instanceId
    if (!crashed || !crashedId || !survivorId) throw new Error('expected two ready user-api replicas')
    await stack.killReplica('user-api', 0)
    t.notOk(isAlive(crashed.pid), 'SIGKILL ended it')
    t.ok((await memberIds(pool, 'user-api', { liveOnly: false })).includes(crashedId), 'a crash leaves its row behind')

    t.same([...(await instancesBehindNginx(t, stack, 'user-api', 8))], [survivorId], 'every request answered by the survivor')

    await waitFor(
      'the crashed replica to leave the live view',
      async () => !(await memberIds(pool, 'user-api', { liveOnly: true })).includes(crashedId),
      10_000,
    )
    await waitFor('its row to be pruned', async () => !(await memberIds(pool, 'user-api', { liveOnly: false })).includes(crashedId), 60_000)
    t.same(await memberIds(pool, 'user-api', { liveOnly: true }), [survivorId])

    const restarted = await stack.restartReplica('user-api', 0)
    const restartedId = restarted.instanceId ?? ''
    everyReplicaPid.push(restarted.pid)
    t.not(restarted.pid, crashed.pid)
    t.ok(restartedId && restartedId !== crashedId, 'a new instance id')
    t.equal(restarted.port, crashed.port)
    // nginx retries a failed server after fail_timeout (2 s): poll until it is back in the rotation.
    await waitFor('nginx to route to the restarted replica', async () => (await instancesBehindNginx(t, stack, 'user-api', 4)).has(restartedId), 60_000)
    t.same((await memberIds(pool, 'user-api', { liveOnly: true })).sort(), [restartedId, survivorId].sort())
  })

  t.test('stop() leaves no process, no open port and no member behind', async (t) => {
    const summary = await stack.stop()
    t.same(summary, { replicas: 7, nginx: true, database: false })
    for (const pid of [...everyReplicaPid, nginxPid]) t.notOk(isAlive(pid), `pid ${pid} is gone`)
    t.notOk(await isPortOpen(18_080), 'nginx port closed')
    for (const replica of stack.replicas) t.notOk(await isPortOpen(replica.port), `port ${replica.port} closed`)
    const [rows] = await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS members FROM was_instances')
    t.equal(Number(rows[0]?.members), 0, 'every service deregistered')
    t.notOk(existsSync(join(dir, 'stack.json')))
  })
})

t.test('a port in use is a one-line error and nothing starts', async (t) => {
  const dir = t.testdir()
  // Never reached: the ports are checked before the database is touched.
  const databaseUrl = 'mysql://app:app@127.0.0.1:1/never_used'
  for (const [port, owner] of [
    [14_101, 'user-api #1'],
    [18_081, 'nginx'],
  ] as const) {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve))
    await t.rejects(startStack({ databaseUrl, dir, portBase: 14_000, httpPort: 18_081 }), {
      message: new RegExp(`^port ${port} \\(${owner}\\) is in use: [^\\n]+$`),
    })
    await new Promise((resolve) => blocker.close(resolve))
    t.notOk(existsSync(join(dir, 'stack.json')), 'no state written')
    t.notOk(existsSync(join(dir, 'logs')), 'no replica started')
    t.notOk(await isPortOpen(14_100), 'nothing listens')
  }
})

t.test('a replica that cannot boot stops the whole start, naming its log', async (t) => {
  const saved = process.env.AUTH_SECRET
  t.teardown(() => {
    if (saved === undefined) delete process.env.AUTH_SECRET
    else process.env.AUTH_SECRET = saved
  })
  process.env.AUTH_SECRET = 'too-short'
  const dir = t.testdir()
  const lines: string[] = []
  const start = startStack({
    databaseUrl: await createTestDatabase(t),
    dir,
    replicas: 1,
    batchWorkers: 0,
    portBase: 15_000,
    httpPort: 18_082,
    onProgress: (line) => lines.push(line),
  })
  await t.rejects(start, { message: /^\S+ #0 exited with code 1 before it was ready \(error: invalid configuration: AUTH_SECRET[^\n]*; see \S+\.log$/ })
  t.equal(narratedPids(lines).length, 3)
  for (const pid of narratedPids(lines)) t.notOk(isAlive(pid), `pid ${pid} is gone`)
  t.notOk(existsSync(join(dir, 'stack.json')))
})

t.test('a replica that is not ready in time: the start fails and stops the others', async (t) => {
  const dir = t.testdir()
  const lines: string[] = []
  const start = startStack({
    databaseUrl: await createTestDatabase(t),
    dir,
    replicas: 1,
    batchWorkers: 0,
    portBase: 16_000,
    httpPort: 18_083,
    readyTimeoutMs: 300,
    onProgress: (line) => lines.push(line),
  })
  await t.rejects(start, { message: /^\S+ #0 was not ready within 0\.3 s; see \S+\.log$/ })
  t.equal(narratedPids(lines).length, 3)
  for (const pid of narratedPids(lines)) t.notOk(isAlive(pid), `pid ${pid} is gone`)
  for (const port of [16_100, 16_200, 16_300, 18_083]) t.notOk(await isPortOpen(port), `port ${port} closed`)
  t.notOk(existsSync(join(dir, 'stack.json')))
})
