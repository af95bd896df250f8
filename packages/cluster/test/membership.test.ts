import t, { type Test } from 'tap'
import { createServer, connect, type Socket } from 'node:net'
import { createPool, uuidToBytes, type Pool, type RowDataPacket } from '@commerce/db'
import { createTestDatabase } from '@commerce/db/testing'
import { createMembership, type MembershipOptions, type MembershipView } from '../src/membership.ts'

const heartbeatMs = 150
const service = 'user-api'
const quietLog = { warn: () => {} }

/** Polls until `check` holds; the deadline is generous so only a real failure times out. */
async function waitFor<T>(what: string, probe: () => T | Promise<T>, check: (value: T) => boolean, deadlineMs = 15_000): Promise<T> {
  const deadline = Date.now() + deadlineMs
  for (;;) {
    const value = await probe()
    if (check(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(value)}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function testPool(t: Test): Promise<Pool> {
  const pool = createPool({ url: await createTestDatabase(t), role: 'api' })
  t.teardown(() => pool.end())
  return pool
}

function member(t: Test, opts: Partial<MembershipOptions> & { pool: Pool }) {
  const membership = createMembership({ service, heartbeatMs, log: quietLog, ...opts })
  t.teardown(() => membership.stop())
  return membership
}

async function rowCount(pool: Pool, id: string): Promise<number> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM was_instances WHERE id = ?', [uuidToBytes(id)])
  return Number(rows[0]!.n)
}

/** Age of a member's last heartbeat on the database clock, in ms. */
async function heartbeatAgeMs(pool: Pool, id: string): Promise<number> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT TIMESTAMPDIFF(MICROSECOND, last_heartbeat, NOW(6)) AS age FROM was_instances WHERE id = ?', [
    uuidToBytes(id),
  ])
  return Number(rows[0]!.age) / 1000
}

/** A member's last heartbeat as written on the database clock, in ms since the epoch. */
async function lastHeartbeatMs(pool: Pool, id: string): Promise<number> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT UNIX_TIMESTAMP(last_heartbeat) * 1000 AS at FROM was_instances WHERE id = ?', [uuidToBytes(id)])
  return Number(rows[0]?.at)
}

const sizeIs = (size: number) => (view: MembershipView) => view.size === size && view.settled

t.test('two members of one service agree on the ordered members and take ranks 0 and 1', async (t) => {
  const pool = await testPool(t)
  const first = member(t, { pool })
  const second = member(t, { pool })
  const other = member(t, { pool, service: 'coupon-api' })
  await Promise.all([first.start(), second.start(), other.start()])

  const firstView = await waitFor('first sees two', first.view, sizeIs(2))
  const secondView = await waitFor('second sees two', second.view, sizeIs(2))
  t.same(firstView.members, [first.id, second.id], 'ordered by id (UUIDv7: oldest first)')
  t.same(secondView.members, firstView.members)
  t.equal(firstView.rank, 0)
  t.equal(secondView.rank, 1)
  t.equal(first.isRegistered(), true)
  t.same(other.view().members, [other.id], 'another service is not in my view')
})

t.test('a member whose heartbeat stops drops out after 4 intervals', async (t) => {
  const pool = await testPool(t)
  const live = member(t, { pool })
  // Registers once, then never beats again within this test: a frozen process.
  const frozen = member(t, { pool, heartbeatMs: 3_600_000 })
  await Promise.all([live.start(), frozen.start()])
  await waitFor('both live', live.view, (view) => view.members.includes(frozen.id))

  const view = await waitFor('frozen member gone', live.view, (view) => !view.members.includes(frozen.id))
  t.same(view.members, [live.id])
  t.equal(view.rank, 0)
  t.ok((await heartbeatAgeMs(pool, frozen.id)) >= 4 * heartbeatMs, 'dropped only once 4 intervals old on the DB clock')
})

t.test('app clock skew changes neither liveness nor ranks', async (t) => {
  const pool = await testPool(t)
  const RealDate = Date
  let skewMs = 0
  // Every use of the app clock (Date.now, new Date()) is hours off; only the DB clock counts.
  class SkewedDate extends RealDate {
    constructor(...args: ConstructorParameters<DateConstructor> | []) {
      if (args.length === 0) super(RealDate.now() + skewMs)
      else super(...(args as ConstructorParameters<DateConstructor>))
    }
    static override now(): number {
      return RealDate.now() + skewMs
    }
  }
  globalThis.Date = SkewedDate as DateConstructor
  t.teardown(() => {
    globalThis.Date = RealDate
  })

  skewMs = 5 * 3_600_000
  const ahead = member(t, { pool })
  await ahead.start()
  skewMs = -5 * 3_600_000
  const behind = member(t, { pool })
  const frozen = member(t, { pool, heartbeatMs: 3_600_000 })
  await Promise.all([behind.start(), frozen.start()])

  const aheadView = await waitFor('frozen member gone, two left', ahead.view, (view) => sizeIs(2)(view) && !view.members.includes(frozen.id))
  const behindView = await waitFor('behind agrees', behind.view, (view) => view.members.join() === aheadView.members.join() && view.settled)
  t.same([aheadView.rank, behindView.rank].sort(), [0, 1])
  t.ok((await heartbeatAgeMs(pool, frozen.id)) >= 4 * heartbeatMs, 'frozen member dropped on DB-clock age')

  // Both stay live beat after beat, though their app clocks are 10 hours apart: after each
  // heartbeat both have written (not after a sleep), the view still holds both.
  const beats = () => Promise.all([ahead.id, behind.id].map((id) => lastHeartbeatMs(pool, id)))
  for (let beat = 0; beat < 8; beat++) {
    const before = await beats()
    await waitFor(`both members to beat again (${beat + 1})`, beats, (now) => now.every((at, i) => at > (before[i] ?? Infinity)))
    t.same((await ahead.refresh()).members, aheadView.members, `still both live after beat ${beat + 1}`)
  }
})

t.test('stop() deletes the row and is idempotent', async (t) => {
  const pool = await testPool(t)
  const leaving = member(t, { pool })
  const staying = member(t, { pool })
  await Promise.all([leaving.start(), staying.start()])
  t.equal(await rowCount(pool, leaving.id), 1)

  await leaving.stop()
  await leaving.stop()
  t.equal(await rowCount(pool, leaving.id), 0)
  t.same(leaving.view(), { members: [], rank: -1, size: 0, settled: false, registered: false })
  const view = await staying.refresh()
  t.same(view.members, [staying.id], 'others see it gone at once')
})

t.test('a pruned member registers again on its next heartbeat; stale rows of any service are pruned', async (t) => {
  const pool = await testPool(t)
  const pruned = member(t, { pool })
  await pruned.start()
  await pool.query('DELETE FROM was_instances WHERE id = ?', [uuidToBytes(pruned.id)])
  await waitFor(
    'row back',
    () => rowCount(pool, pruned.id),
    (n) => n === 1,
  )
  await waitFor('back in its own view', pruned.view, (view) => view.rank === 0 && view.registered)

  const staleId = '00000000-0000-7000-8000-000000000001'
  await pool.query(
    `INSERT INTO was_instances (id, service, host, pid, started_at, last_heartbeat)
     VALUES (?, 'batch-worker', 'gone', 1, NOW(6) - INTERVAL 1 HOUR, NOW(6) - INTERVAL 1 HOUR)`,
    [uuidToBytes(staleId)],
  )
  await waitFor(
    'stale row pruned',
    () => rowCount(pool, staleId),
    (n) => n === 0,
  )
  t.pass('pruned')
})

/** The pool, showing `intercept` the SQL of every query first: an error it returns fails that query. */
function intercepted(pool: Pool, intercept: (sql: string) => Error | undefined): Pool {
  const query = ((sql: string | { sql: string }, ...rest: unknown[]) => {
    const refused = intercept(typeof sql === 'string' ? sql : sql.sql)
    return refused ? Promise.reject(refused) : (pool.query as (...args: unknown[]) => unknown)(sql, ...rest)
  }) as Pool['query']
  return new Proxy(pool, { get: (target, key) => (key === 'query' ? query : Reflect.get(target, key)) })
}

/** The pool, with the SQL of every query it is asked recorded in `seen`. */
const recording = (pool: Pool, seen: string[]) =>
  intercepted(pool, (sql) => {
    seen.push(sql)
    return undefined
  })

const pruning = (sql: string) => /DELETE FROM was_instances WHERE (?!id = \?$)|last_heartbeat < NOW/.test(sql)

t.test('only the oldest live member of a service prunes; when it goes, the next one does', async (t) => {
  const pool = await testPool(t)
  const seen: string[][] = [[], [], []]
  const members: ReturnType<typeof member>[] = []
  // Started one after another: UUIDv7 ids, so the first is the oldest (rank 0).
  for (const statements of seen) {
    const next = member(t, { pool: recording(pool, statements) })
    await next.start()
    members.push(next)
  }
  await waitFor(
    'three in every view',
    () => members.map((m) => m.view().size),
    (sizes) => sizes.every((size) => size === 3),
  )
  for (const statements of seen) statements.length = 0
  const beats = (statements: string[]) => statements.filter((sql) => sql.startsWith('UPDATE was_instances SET last_heartbeat')).length
  await waitFor(
    'three more beats each',
    () => seen.map(beats),
    (counts) => counts.every((n) => n >= 3),
  )
  t.ok(seen[0]!.some(pruning), 'rank 0 prunes')
  t.same(
    seen.slice(1).map((statements) => statements.filter(pruning)),
    [[], []],
    'the others never do',
  )

  await members[0]!.stop()
  seen[1]!.length = 0
  await waitFor(
    'the next oldest prunes',
    () => seen[1]!.some(pruning),
    (pruned) => pruned,
  )
  t.same(seen[2]!.filter(pruning), [], 'and only it')
})

t.test('a prune that fails leaves the pruner registered and its view whole', async (t) => {
  const pool = await testPool(t)
  let failedPrunes = 0
  // Every prune statement fails (as a lock wait that timed out would); everything else goes through.
  const failing = intercepted(pool, (sql) => {
    if (!pruning(sql)) return undefined
    failedPrunes++
    return new Error('Lock wait timeout exceeded')
  })
  const views: MembershipView[] = []
  const alone = member(t, { pool: failing, onChange: (view) => views.push(view) })
  await alone.start()
  await waitFor(
    'three failed prunes',
    () => failedPrunes,
    (n) => n >= 3,
  )
  t.same(
    views.filter((view) => !view.registered || view.rank !== 0),
    [],
    'never out of its own view',
  )
  t.equal(alone.view().rank, 0, 'still rank 0')
})

t.test("a faster service prunes its own stale rows and long-dead rows of any service, never a slower service's live row", async (t) => {
  const pool = await testPool(t)
  const pruner = member(t, { pool })
  await pruner.start()
  const rows = {
    // Stale by my interval (10 × 150 ms).
    mine: ['00000000-0000-7000-8000-0000000000a1', service, 30],
    // Live by its own interval: a 60 s heartbeat has rows up to 4 minutes old that are alive.
    slower: ['00000000-0000-7000-8000-0000000000a2', 'slow-api', 30],
    // Past ten of the longest interval any service accepts.
    longDead: ['00000000-0000-7000-8000-0000000000a3', 'slow-api', 11 * 60],
  } as const
  for (const [id, rowService, ageSeconds] of Object.values(rows)) {
    await pool.query(
      `INSERT INTO was_instances (id, service, host, pid, started_at, last_heartbeat)
       VALUES (?, ?, 'h', 1, NOW(6) - INTERVAL ? SECOND, NOW(6) - INTERVAL ? SECOND)`,
      [uuidToBytes(id), rowService, ageSeconds, ageSeconds],
    )
  }
  await waitFor(
    'both stale rows pruned',
    async () => (await rowCount(pool, rows.mine[0])) + (await rowCount(pool, rows.longDead[0])),
    (n) => n === 0,
  )
  t.equal(await rowCount(pool, rows.slower[0]), 1, "the slower service's live row, judged by the same statement, stays")
})

t.test('settled goes false on a membership change and true one interval later', async (t) => {
  const pool = await testPool(t)
  const views: MembershipView[] = []
  const watcher = member(t, { pool, onChange: (view) => views.push(view) })
  await watcher.start()
  await waitFor('settled alone', watcher.view, sizeIs(1))
  t.equal(views[0]?.settled, false, 'not settled right after joining')

  const joiner = member(t, { pool })
  await joiner.start()
  await waitFor('settled with two', watcher.view, sizeIs(2))
  const firstWithTwo = views.find((view) => view.size === 2)
  t.equal(firstWithTwo?.settled, false, 'the change is reported unsettled')
  // view() turns settled as time passes; onChange reports it at the next refresh after that.
  await waitFor(
    'settled reported',
    () => views,
    (seen) => seen.some((view) => view.size === 2 && view.settled),
  )
  t.pass('then settled is reported')
})

/** A TCP proxy to the database that refuses connections until opened: a database outage. */
async function outageProxy(t: Test, databaseUrl: string) {
  const target = new URL(databaseUrl)
  let up = false
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    if (!up) return client.destroy()
    const upstream = connect(Number(target.port), target.hostname)
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => {})
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('proxy has no port')
  const url = new URL(databaseUrl)
  url.hostname = '127.0.0.1'
  url.port = String(address.port)
  return { url: url.toString(), open: () => (up = true) }
}

t.test('start() with an unreachable database resolves unregistered, and registers once it is back', async (t) => {
  const url = await createTestDatabase(t)
  const proxy = await outageProxy(t, url)
  const pool = createPool({ url: proxy.url, role: 'api' })
  t.teardown(() => pool.end())
  const warnings: string[] = []
  const booting = member(t, { pool, log: { warn: (_obj, msg) => warnings.push(msg) } })

  const view = await booting.start()
  t.same(view, { members: [], rank: -1, size: 0, settled: false, registered: false })
  t.equal(booting.isRegistered(), false)
  t.ok(warnings.length > 0, 'the failure is logged')

  proxy.open()
  await waitFor('registered', booting.view, (view) => view.registered && view.rank === 0)
  t.pass('registered after the outage')
})

t.test('a database that never answers: start() and stop() still resolve', async (t) => {
  const pool = createPool({ url: 'mysql://root@127.0.0.1:1/nothing', role: 'api' })
  t.teardown(() => pool.end())
  const warnings: string[] = []
  const lonely = createMembership({ pool, service, heartbeatMs, log: { warn: (_obj, msg) => warnings.push(msg) } })
  t.match(await lonely.start(), { registered: false, rank: -1 })
  await lonely.stop()
  t.same(warnings, ['membership heartbeat failed; retrying', 'membership row not deleted; it will be pruned'], 'both failures logged')
})
