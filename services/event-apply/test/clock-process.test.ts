import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createPool, type ResultSetHeader, type RowDataPacket } from '@commerce/db'
import { createTestDatabase } from '@commerce/db/testing'
import { testEnv } from '@commerce/kit/testing'
import { eventually, phoneOf } from './helpers.ts'

// A real event-apply process whose host clock is 30 s ahead of MariaDB's (libfaketime): what an
// in-process test cannot fake, since the process's own wall and monotonic clocks are shifted.
const packageDir = fileURLToPath(new URL('..', import.meta.url))
const shiftS = 30

/**
 * The faketime offset that puts the replica `shiftS` ahead of this process and of MariaDB:
 * `npm test -- --at` already runs both on a shifted clock (FAKETIME=±Ns), which a nested
 * faketime replaces rather than adds to.
 */
function replicaFaketime(): string {
  const inherited = process.env.FAKETIME
  const base = inherited === undefined ? 0 : Number(/^([+-]\d+)s$/.exec(inherited)?.[1])
  if (!Number.isInteger(base)) throw new Error(`FAKETIME=${inherited}: only the offset form ±Ns is understood here`)
  const total = base + shiftS
  return `${total >= 0 ? '+' : ''}${total}s`
}

async function startShiftedReplica(t: Test, url: string, port: number, env: Record<string, string>) {
  const child = spawn('faketime', ['-f', replicaFaketime(), process.execPath, '--import', 'tsx', 'src/server.ts'], {
    cwd: packageDir,
    env: { ...process.env, ...testEnv(url, { HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env }), FAKETIME_DONT_RESET: '1' },
    stdio: ['ignore', 'inherit', 'inherit'],
    // Its own process group, so tsx's helpers stop with it.
    detached: true,
  })
  let exited = false
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true
      resolve()
    }),
  )
  child.once('error', (error) => t.fail(`faketime could not be started (apt-get install faketime): ${error.message}`))
  t.teardown(async () => {
    if (exited || child.pid === undefined) return
    process.kill(-child.pid, 'SIGTERM')
    const killed = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 10_000)
    await exit
    clearTimeout(killed)
  })
  const base = `http://127.0.0.1:${port}`
  const up = await eventually(
    async () =>
      !exited &&
      (await fetch(`${base}/health`).then(
        (r) => r.ok,
        () => false,
      )),
    60_000,
    50,
  )
  if (!up) throw new Error(`the shifted replica did not answer /health on ${port}${exited ? ' (it exited)' : ''}`)
  return base
}

async function clockMetrics(base: string) {
  const body = await (await fetch(`${base}/metrics`)).text()
  const read = (name: string) => {
    const value = new RegExp(`^${name}\\{service="event-apply"\\} (\\S+)$`, 'm').exec(body)?.[1]
    return value === undefined ? undefined : Number(value)
  }
  return { offsetS: read('clock_offset_seconds'), roundTripS: read('clock_round_trip_seconds') }
}

async function database(t: Test) {
  const url = await createTestDatabase(t)
  const pool = createPool({ url, role: 'api' })
  t.teardown(() => pool.end())
  const dbNowS = async () => {
    const [[row]] = await pool.query<RowDataPacket[]>('SELECT UNIX_TIMESTAMP(NOW(6)) AS now')
    return Number(row?.now)
  }
  const createEvent = async (opensInS: number) => {
    const [result] = await pool.query<ResultSetHeader>(
      `INSERT INTO events (title, opens_at, closes_at, winner_quota, announce_at)
       VALUES ('clock', NOW(6) + INTERVAL ? SECOND, NOW(6) + INTERVAL 600 SECOND, 100, NOW(6) + INTERVAL 3600 SECOND)`,
      [opensInS],
    )
    return result.insertId
  }
  return { url, pool, dbNowS, createEvent }
}

const applyTo = (base: string, eventId: number, n: number) =>
  fetch(`${base}/events/${eventId}/applications`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'clock', phone: phoneOf(n) }),
  })

t.test('a replica 30 s ahead of the database measures -30 s and is not ready within a 500 ms bound', async (t) => {
  const { url } = await database(t)
  const base = await startShiftedReplica(t, url, 19471, { CLOCK_MAX_OFFSET_MS: '500' })
  const { offsetS, roundTripS } = await clockMetrics(base)
  t.ok(offsetS !== undefined && Math.abs(offsetS + shiftS) < 0.5, `clock_offset_seconds ${offsetS} ≈ -${shiftS}`)
  t.ok(roundTripS !== undefined && roundTripS >= 0 && roundTripS < 0.5, `clock_round_trip_seconds ${roundTripS}`)
  const ready = await fetch(`${base}/ready`)
  t.equal(ready.status, 503)
  t.match(await ready.json(), { code: 'NOT_READY', message: /off the database's \(bound 500 ms\)/ })
})

t.test('within a wider bound it is ready, and stamps and opens on the database clock, not its own', async (t) => {
  const { url, pool, dbNowS, createEvent } = await database(t)
  const base = await startShiftedReplica(t, url, 19472, { CLOCK_MAX_OFFSET_MS: '60000' })
  t.equal((await fetch(`${base}/ready`)).status, 200)

  // Opens in 10 s on the database clock: open 20 s ago by the replica's own.
  const early = await applyTo(base, await createEvent(10), 1)
  t.equal(early.status, 403)
  t.match(await early.json(), { code: 'EVENT_NOT_OPEN' })

  const eventId = await createEvent(-60)
  const before = await dbNowS()
  const response = await applyTo(base, eventId, 2)
  const after = await dbNowS()
  t.equal(response.status, 201)
  const [[row]] = await pool.query<RowDataPacket[]>('SELECT UNIX_TIMESTAMP(received_at) AS at FROM event_applications WHERE event_id = ?', [eventId])
  const stamped = Number(row?.at)
  const { roundTripS } = await clockMetrics(base)
  t.ok(roundTripS !== undefined, 'clock_round_trip_seconds is exported')
  // The stamp's error is at most half the replica's round trip; allow the whole one.
  const slack = roundTripS ?? 0
  t.ok(stamped >= before - slack && stamped <= after + slack, `received_at ${stamped} within [${before}, ${after}] ± ${slack} s on the database clock`)
})
