import t, { type Test } from 'tap'
import { Registry } from 'prom-client'
import { createPool, type ResultSetHeader, type RowDataPacket } from '@commerce/db'
import { createTestDatabase } from '@commerce/db/testing'
import { createDbClock } from '@commerce/kit'
import { testEnv, testSecret } from '@commerce/kit/testing'
import { datetime6 } from '../src/clock.ts'
import { loadServiceConfig } from '../src/config.ts'
import { createApplicationDesk } from '../src/desk.ts'
import { createEventDirectory } from '../src/directory.ts'
import { createEventRepository } from '../src/event-repository.ts'
import { createReceipts } from '../src/receipts.ts'
import { phoneOf } from './helpers.ts'

const replicaId = '01900000-0000-7000-8000-000000000001'
const hostMs = () => performance.timeOrigin + performance.now()

/**
 * A desk on a real database whose clock, as the replica measures it, is `dbAheadS` seconds from
 * this host's: the "database now" is injected, so the host clock and the database clock disagree
 * inside one process. Events are placed on that injected clock.
 */
async function deskAgainst(t: Test, dbAheadS: number) {
  const url = await createTestDatabase(t)
  const pool = createPool({ url, role: 'api' })
  t.teardown(() => pool.end())
  const dbNowMs = async () => hostMs() + dbAheadS * 1000
  const clock = createDbClock({ dbNowMs, samples: 3, maxOffsetMs: 500 })
  const repo = createEventRepository(pool)
  const directory = createEventDirectory({ repo, refreshMs: 60_000, log: { warn: () => {} }, wallClock: clock.nowMs })
  const desk = createApplicationDesk({
    repo,
    directory,
    config: loadServiceConfig(testEnv(url)),
    replicaId,
    registry: new Registry(),
    clock,
    receipts: createReceipts(testSecret),
  })
  t.teardown(() => desk.drain())
  const at = async (inS: number) => datetime6(Math.round((await dbNowMs()) * 1000 + inS * 1_000_000))
  const createEvent = async (opensInS: number, closesInS: number) => {
    const [result] = await pool.query<ResultSetHeader>(
      "INSERT INTO events (title, opens_at, closes_at, winner_quota, announce_at) VALUES ('desk', ?, ?, 100, ?)",
      [await at(opensInS), await at(closesInS), await at(3600)],
    )
    return result.insertId
  }
  const applications = async () => Number((await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM event_applications'))[0][0]?.n)
  return { clock, desk, createEvent, dbNowMs, applications }
}

t.test('an unmeasured replica clock decides nothing: 503 UNAVAILABLE, nothing written', async (t) => {
  const { desk, createEvent, applications } = await deskAgainst(t, 0)
  const eventId = await createEvent(-60, 600)
  await t.rejects(desk.apply(eventId, { name: 'early', phone: phoneOf(1), userId: null }), { statusCode: 503, code: 'UNAVAILABLE' })
  t.equal(await applications(), 0)
})

for (const dbAheadS of [30, -30]) {
  t.test(
    `the database clock ${Math.abs(dbAheadS)} s ${dbAheadS > 0 ? 'ahead of' : 'behind'} the host's: stamps and open/close follow the database`,
    async (t) => {
      const { clock, desk, createEvent, dbNowMs } = await deskAgainst(t, dbAheadS)
      const sample = await clock.sync()
      t.ok(Math.abs(sample.offsetMs - dbAheadS * 1000) <= sample.roundTripMs / 2 + 0.01, `offset ${sample.offsetMs} ms`)

      // By the host's clock each of these would be decided the other way round in one direction or the other.
      await t.rejects(
        desk.apply(await createEvent(10, 600), { name: 'early', phone: phoneOf(1), userId: null }),
        { code: 'EVENT_NOT_OPEN' },
        'opens in 10 s on the database clock',
      )
      await t.rejects(
        desk.apply(await createEvent(-600, -10), { name: 'late', phone: phoneOf(2), userId: null }),
        { code: 'EVENT_CLOSED' },
        'closed 10 s ago on the database clock',
      )
      const justOpened = await createEvent(-10, 10)
      const before = (await dbNowMs()) * 1000
      const application = await desk.apply(justOpened, { name: 'on time', phone: phoneOf(3), userId: null })
      const after = (await dbNowMs()) * 1000
      const slack = (sample.roundTripMs / 2) * 1000 + 1
      t.ok(
        application.receivedAtMicros >= before - slack && application.receivedAtMicros <= after + slack,
        `stamped ${application.receivedAtMicros} within [${before}, ${after}] ± ${slack} µs of the database clock`,
      )
    },
  )
}
