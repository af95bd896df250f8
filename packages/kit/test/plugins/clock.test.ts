import t from 'tap'
import { createTestDatabase } from '@commerce/db/testing'
import { createServiceApp } from '../../src/app.ts'
import { createDbClock, measureOffset } from '../../src/plugins/clock.ts'
import { testConfig } from '../../src/testing.ts'

/** A local clock that reads the given instants in turn, and a database answering each query with the next value. */
function scripted(localReadings: number[], dbAnswers: Array<number | Error>) {
  return {
    localMs: () => {
      const next = localReadings.shift()
      if (next === undefined) throw new Error('local clock read more often than scripted')
      return next
    },
    dbNowMs: async () => {
      const next = dbAnswers.shift()
      if (next === undefined) throw new Error('database asked more often than scripted')
      if (next instanceof Error) throw next
      return next
    },
  }
}

t.test('the offset is read NTP-style: database time minus the local midpoint, from the shortest round trip', async (t) => {
  // Round trips of 10, 2 and 6 ms; the database is 30 s behind, the 2 ms sample read it 1 ms late.
  const { localMs, dbNowMs } = scripted([1_000, 1_010, 2_000, 2_002, 3_000, 3_006], [1_005 - 30_000 + 4, 2_001 - 30_000 + 1, 3_003 - 30_000 - 3])
  t.same(await measureOffset(dbNowMs, localMs, 3), { offsetMs: -29_999, roundTripMs: 2 })
})

t.test('a failed round trip is skipped; a measurement fails only when every one did', async (t) => {
  // The failed try reads the local clock once, before its query.
  const partly = scripted([0, 10, 14], [new Error('lost'), 112])
  t.same(await measureOffset(partly.dbNowMs, partly.localMs, 2), { offsetMs: 100, roundTripMs: 4 })
  const none = scripted([0, 1], [new Error('first'), new Error('second')])
  await t.rejects(measureOffset(none.dbNowMs, none.localMs, 2), { message: 'second' })
})

t.test('the corrected clock: local plus the measured offset, trusted only within its bound, never going backwards', async (t) => {
  let local = 1_000_000
  let db = local - 30_000
  const clock = createDbClock({ localMs: () => local, dbNowMs: async () => db, samples: 1, maxOffsetMs: 500 })
  t.equal(clock.untrusted(), 'clock offset to the database not measured yet')
  t.equal(clock.nowMs(), 1_000_000, 'uncorrected until measured')

  await clock.sync()
  t.same(clock.sample(), { offsetMs: -30_000, roundTripMs: 0 })
  t.equal(clock.nowMs(), 970_000, 'the first offset applies at once, not held back by the uncorrected reading before it')
  t.equal(clock.nowMicros(), 970_000_000)
  t.equal(clock.untrusted(), "clock is -30000 ms off the database's (bound 500 ms)")
  const generous = createDbClock({ localMs: () => local, dbNowMs: async () => db, samples: 1, maxOffsetMs: 30_000 })
  await generous.sync()
  t.equal(generous.untrusted(), undefined, 'the same offset within a wider bound')

  local += 100
  t.equal(clock.nowMs(), 970_100)
  // The database clock is found 20 ms further behind: readings stand still until local time catches up.
  db = local - 30_020
  await clock.sync()
  t.equal(clock.nowMs(), 970_100, 'a lower offset does not take time backwards')
  local += 15
  t.equal(clock.nowMs(), 970_100)
  local += 10
  t.equal(clock.nowMs(), 970_105, 'then it advances at the local rate from the new offset')

  db = local + 200
  await clock.sync()
  t.equal(clock.nowMs(), local + 200)
  t.equal(clock.untrusted(), undefined, 'within the bound')
})

t.test('every service measures its clock against the real database at boot and again every CLOCK_SYNC_MS, with metrics', async (t) => {
  const config = testConfig(await createTestDatabase(t), { CLOCK_SYNC_MS: '50' })
  const app = await createServiceApp({ service: 'coupon-api', config, logger: false })
  t.teardown(() => app.close())
  await app.ready()
  const first = app.clock.sample()
  if (!first) throw new Error('no clock sample after ready')
  // This process and MariaDB share the host's clock: the estimate is off by at most half the round trip (plus µs rounding).
  t.ok(Math.abs(first.offsetMs) <= first.roundTripMs / 2 + 0.01, `offset ${first.offsetMs} ms within half the round trip ${first.roundTripMs} ms`)
  t.equal((await app.inject('/ready')).statusCode, 200)

  const metrics = (await app.inject('/metrics')).body
  const offset = /^clock_offset_seconds\{service="coupon-api"\} (\S+)$/m.exec(metrics)?.[1]
  const roundTrip = /^clock_round_trip_seconds\{service="coupon-api"\} (\S+)$/m.exec(metrics)?.[1]
  t.ok(offset !== undefined && roundTrip !== undefined, 'clock_offset_seconds and clock_round_trip_seconds are exported')
  t.ok(Math.abs(Number(offset)) <= Number(roundTrip), `clock_offset_seconds ${offset} within clock_round_trip_seconds ${roundTrip}`)

  const deadline = performance.now() + 5_000
  while (app.clock.sample() === first && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  t.not(app.clock.sample(), first, 'measured again')
})
