import t from 'tap'
import { readFileSync } from 'node:fs'
import { Agent } from 'node:http'
import { join } from 'node:path'
import { createPool, uuidToBytes, uuidV7, type Pool, type ResultSetHeader, type RowDataPacket } from '@commerce/db'
import { createTestDatabase } from '@commerce/db/testing'
import { requestIdPattern, type ServiceName, signToken } from '@commerce/kit'
import { assertFuzzClean, type FuzzRoute, fuzzService, operatorRoutes, sendOverHttp } from '@commerce/kit/fuzz'
import { attackTokens } from '@commerce/kit/testing'
import { batchErrors } from '../../../services/batch-worker/src/errors.ts'
import { batchFuzzRoutes } from '../../../services/batch-worker/test/fuzz-routes.ts'
import { couponErrors } from '../../../services/coupon-api/src/errors.ts'
import { couponFuzzRoutes } from '../../../services/coupon-api/test/fuzz-routes.ts'
import { eventErrors } from '../../../services/event-apply/src/errors.ts'
import { eventFuzzRoutes } from '../../../services/event-apply/test/fuzz-routes.ts'
import { userErrors } from '../../../services/user-api/src/errors.ts'
import { userFuzzRoutes } from '../../../services/user-api/test/fuzz-routes.ts'
import { localAuthSecret } from '../src/secret.ts'
import { startStack, type Stack } from '../src/stack.ts'
import { rawRequest } from './support/raw-http.ts'

// The edge as a client meets it: the services' fuzz cases through real nginx to real replicas (two
// per API, so nginx's max_fails can take one out of rotation), and the request id that once did.
const httpPort = 18_190
const secret = localAuthSecret()
const token = (userId: number, role: 'user' | 'admin' = 'user') => `Bearer ${signToken(secret, { userId, role })}`
const [alice, bob, couponAlice, couponBob, admin] = [101, 102, 201, 202, 9]
/** Lines nginx writes when a replica's answer made it count a failure or take the replica out. */
const replicaFailure =
  /upstream sent too big header|upstream sent invalid header|upstream prematurely closed|upstream server temporarily disabled|no live upstreams/

interface Seeded {
  openEvent: number
  accountEvent: number
  futureEvent: number
  closedEvent: number
  application: string
  receipt: string
  coupons: string[]
  redemption: string
}

async function insertEvent(pool: Pool, opensInS: number, closesInS: number, announceInS: number, entry = 'PUBLIC'): Promise<number> {
  const [event] = await pool.query<ResultSetHeader>(
    `INSERT INTO events (title, opens_at, closes_at, winner_quota, announce_at, entry)
     VALUES ('edge', NOW(6) + INTERVAL ? SECOND, NOW(6) + INTERVAL ? SECOND, 1000000, NOW(6) + INTERVAL ? SECOND, ?)`,
    [opensInS, closesInS, announceInS, entry],
  )
  return event.insertId
}

/** What every service's routes need, as their own fuzz tests seed it; the application and redemption are made through nginx. */
async function seed(pool: Pool, url: string): Promise<Seeded> {
  await pool.query(
    "INSERT INTO users (id, name, grade) VALUES (1, 'u', 'BRONZE'), (?, 'alice', 'GOLD'), (?, 'bob', 'BRONZE'), (?, 'ca', 'BRONZE'), (?, 'cb', 'BRONZE')",
    [alice, bob, couponAlice, couponBob],
  )
  await pool.query(
    "INSERT INTO orders (user_id, amount, category, status, ordered_at) VALUES (?, 300000, 'books', 'PAID', '2026-10-05 10:00:00'), (1, 100, 'books', 'PAID', '2026-10-05 00:00:00')",
    [bob],
  )
  await pool.query("INSERT INTO grade_history (user_id, period, from_grade, to_grade, total, order_count) VALUES (?, '2026-09', 'BRONZE', 'GOLD', 600000, 2)", [
    bob,
  ])
  const coupons = Array.from({ length: 35 }, () => uuidV7())
  for (const [slot, id] of coupons.entries()) {
    await pool.query(
      "INSERT INTO coupons (id, user_id, kind, period, slot, amount, status, issued_at, expires_at) VALUES (?, ?, 'GRADE', '2026-09', ?, 3000, 'ISSUED', '2026-10-01', '2099-01-01')",
      [uuidToBytes(id), slot < 30 ? couponAlice : couponBob, slot + 1],
    )
  }
  const [openEvent, accountEvent, futureEvent, closedEvent] = [
    await insertEvent(pool, -60, 600, 3600),
    await insertEvent(pool, -60, 600, 3600, 'ACCOUNT'),
    await insertEvent(pool, 3600, 7200, 9000),
    await insertEvent(pool, -7200, -3600, -3600),
  ]
  const applied = await sendOverHttp(url, {
    method: 'POST',
    url: `/events/${openEvent}/applications`,
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ name: 'Kim', phone: '01012340000' }),
  })
  const redeemed = await sendOverHttp(url, {
    method: 'POST',
    url: `/coupons/${coupons[0]}/redeem`,
    headers: { authorization: token(couponAlice), 'idempotency-key': 'seed-1' },
  })
  if (applied?.status !== 201 || !redeemed || redeemed.status >= 300) throw new Error(`seeding through nginx failed: ${applied?.body} ${redeemed?.body}`)
  return {
    openEvent,
    accountEvent,
    futureEvent,
    closedEvent,
    coupons,
    ...(({ applicationId, receipt }) => ({ application: applicationId, receipt }))(JSON.parse(applied.body) as { applicationId: string; receipt: string }),
    redemption: (JSON.parse(redeemed.body) as { redemptionId: string }).redemptionId,
  }
}

const codeOf = (body: string) => (JSON.parse(body) as { code?: string }).code
const errorLogOf = (dir: string) => readFileSync(join(dir, 'nginx', 'error.log'), 'utf8')
const instancesOf = (stack: Stack, service: ServiceName) => stack.replicas.filter((replica) => replica.service === service).map((replica) => replica.instanceId)
/** The kit's operator routes as nginx exposes them: /ops/<service>/health reaches the service's /health. */
const opsRoutes = (service: ServiceName): FuzzRoute[] => operatorRoutes.map((route) => ({ ...route, path: `/ops/${service}${route.path}` }))

t.test('through nginx to two replicas per service', async (t) => {
  const databaseUrl = await createTestDatabase(t)
  const pool = createPool({ url: databaseUrl, role: 'api' })
  t.teardown(() => pool.end())
  const dir = t.testdir()
  const stack = await startStack({
    databaseUrl,
    dir,
    replicas: 2,
    batchWorkers: 1,
    portBase: 22_000,
    httpPort,
    env: { LOG_LEVEL: 'warn' },
    serviceEnv: {
      // No scheduled batch or draw: only the fuzzer's requests reach the runner.
      'batch-worker': { BATCH_SCHEDULE_ENABLED: 'false', EVENT_SCHEDULE_ENABLED: 'false', BATCH_DAEMON_POLL_MS: '60000', EVENT_POLL_MS: '60000' },
      'coupon-api': { COUPON_SWEEP_MS: '60000' },
    },
  })
  t.teardown(() => stack.stop())
  const seeded = await seed(pool, stack.url)

  t.test('a long or odd X-Request-Id is not echoed: the write is answered, no replica is taken out, the next client is served', async (t) => {
    const attacker = new Agent({ keepAlive: true })
    t.teardown(() => attacker.destroy())
    const ids: [string, string][] = [
      ['4 KiB', 'a'.repeat(4 * 1024)],
      ['9 KiB', 'b'.repeat(9 * 1024)],
      ['odd characters', `<id> "q" é\u00ff;\t%00 ${'x'.repeat(60)}`],
    ]
    const ordersOf = async () =>
      Number(((await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM orders WHERE user_id = ?', [alice]))[0][0] as RowDataPacket).n)
    const before = await ordersOf()
    let placed = 0
    for (const [what, id] of ids) {
      // Twice each: round-robin gives each of the service's two replicas one.
      for (const round of [1, 2]) {
        const write = await sendOverHttp(
          stack.url,
          {
            method: 'POST',
            url: `/users/${alice}/orders`,
            headers: { authorization: token(alice), 'content-type': 'application/json', 'x-request-id': id },
            payload: JSON.stringify({ amount: 12000, category: 'books' }),
          },
          attacker,
        )
        const read = await sendOverHttp(stack.url, { method: 'GET', url: `/events/${seeded.openEvent}`, headers: { 'x-request-id': id } }, attacker)
        if (!write || !read) throw new Error('the probe could not be sent')
        if (write.status === 201) placed += 1
        const answers = `${what} #${round}: ${write.body.slice(0, 60)} / ${read.body.slice(0, 60)}`
        // nginx refuses a request header over 8 KiB itself (large_client_header_buffers); shorter ones reach a replica.
        if (id.length > 8 * 1024) {
          t.same([write.status, read.status, codeOf(write.body), codeOf(read.body)], [431, 431, 'HEADERS_TOO_LARGE', 'HEADERS_TOO_LARGE'], answers)
          continue
        }
        t.same([write.status, read.status], [201, 200], answers)
        for (const answer of [write, read]) {
          t.match(answer.headers['x-request-id'], requestIdPattern, `${what} #${round}: the answer carries a short, well-formed request id`)
        }
      }
    }
    t.equal(await ordersOf(), before + placed, 'every committed order was answered 201')
    t.equal(placed, 4, 'the 4 KiB and the odd id placed their orders')

    // nginx passes control characters in a header value on; the replica's parser refuses them (400)
    // and closes the connection. nginx must take that as an answer, not as a failing replica.
    const body = JSON.stringify({ amount: 12000, category: 'books', pad: 'x'.repeat(15_000) })
    for (const control of ['\u0001', '\u007f']) {
      for (const round of [1, 2]) {
        const requests = [
          `POST /users/${alice}/orders HTTP/1.1\r\nHost: x\r\nAuthorization: ${token(alice)}\r\nContent-Type: application/json\r\nX-Note: a${control}b\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
          `GET /events/${seeded.openEvent} HTTP/1.1\r\nHost: x\r\nX-Note: a${control}b\r\nConnection: close\r\n\r\n`,
        ]
        for (const request of requests) {
          const answer = await rawRequest(httpPort, request)
          t.same(
            [answer.status, codeOf(answer.body)],
            [400, 'VALIDATION'],
            `${request.split(' ', 2).join(' ')} with U+${control.charCodeAt(0).toString(16).padStart(4, '0')} in a header, #${round}`,
          )
        }
      }
    }
    t.equal(await ordersOf(), before + placed, 'no refused request placed an order')

    const bystander = new Agent({ keepAlive: true })
    t.teardown(() => bystander.destroy())
    const answeredBy = new Set<unknown>()
    const statuses: number[] = []
    for (let i = 0; i < 20; i++) {
      const answer = await sendOverHttp(stack.url, { method: 'GET', url: `/events/${seeded.openEvent}` }, bystander)
      statuses.push(answer?.status ?? 0)
      answeredBy.add(answer?.headers['x-instance-id'])
    }
    t.same(statuses, Array(20).fill(200), 'the next 20 ordinary requests from another client: all 200')
    t.same([...answeredBy].sort(), instancesOf(stack, 'event-apply').sort(), 'answered by both event-apply replicas (neither taken out)')
    t.notMatch(errorLogOf(dir), replicaFailure, 'nginx counted no failure against a replica')
  })

  t.test('every service’s fuzz cases through nginx: no 5xx, clean answers, no replica taken out', async (t) => {
    const agent = new Agent({ keepAlive: true })
    t.teardown(() => agent.destroy())
    const target = { baseUrl: stack.url, agent }
    // Fewer than the in-process runs: each case crosses nginx and a socket. FUZZ_RUNS raises them.
    const runs = 800
    const attacks = Object.values(attackTokens(alice, secret))
    const services = [
      {
        service: 'user-api' as const,
        errors: userErrors,
        routes: userFuzzRoutes({ users: [alice, bob] }),
        authorizations: [token(alice), token(bob), token(admin, 'admin')],
      },
      {
        service: 'coupon-api' as const,
        errors: couponErrors,
        routes: couponFuzzRoutes({ users: [couponAlice, couponBob], coupons: seeded.coupons, redemption: seeded.redemption }),
        authorizations: [token(couponAlice), token(couponBob), token(admin, 'admin')],
      },
      {
        service: 'event-apply' as const,
        errors: eventErrors,
        fields: { DUPLICATE_APPLICATION: ['applicationId', 'receipt'] },
        routes: eventFuzzRoutes({
          events: [seeded.openEvent, seeded.accountEvent, seeded.futureEvent],
          application: seeded.application,
          receipt: seeded.receipt,
        }),
        authorizations: [token(5), token(admin, 'admin')],
      },
      {
        service: 'batch-worker' as const,
        errors: batchErrors,
        // Only the console's routes are behind nginx; /runs and /events/:id/draw are the daemon's own.
        routes: batchFuzzRoutes({ closedEvent: seeded.closedEvent }).filter((route) => route.path.startsWith('/console/')),
        authorizations: [token(5), token(admin, 'admin')],
      },
    ]
    for (const [i, { service, routes, ...options }] of services.entries()) {
      const report = await fuzzService(target, [...routes, ...opsRoutes(service)], {
        service: `${service} through nginx`,
        seed: 20261210 + i,
        runs,
        attacks,
        ...options,
      })
      assertFuzzClean(t, report)
      t.ok(
        Object.keys(report.statuses).some((status) => Number(status) < 300),
        `${service}: some cases were valid enough to succeed`,
      )
    }
    t.notMatch(errorLogOf(dir), replicaFailure, 'nginx counted no failure against a replica')
  })
})
