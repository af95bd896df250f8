import t from 'tap'
import { createPacingController, createPacer, type PacingSettings, type PacingSignals } from '../../src/job/pacing.ts'
import { settings as workerSettings } from '../../src/testing.ts'

/** The fixtures' budget (100 ms, no ratio) and floor (0.1), pacing on, decisions on a 3-s hold. */
const settings: PacingSettings = { ...workerSettings.pacing, enabled: true, decideMs: 250, holdMs: 3_000 }
const calm: PacingSignals = { apiP99Ms: 20, baselineP99Ms: null, threadsRunning: 3, openChunks: 100, runElapsedMs: 1_000 }
const slow: PacingSignals = { ...calm, apiP99Ms: 240 }

/** A controller that has ramped up to all its lanes under budget (by 30 s: ten holds, doubling). */
function rampedUp(pacingSettings: PacingSettings, lanes: number) {
  const pacing = createPacingController(pacingSettings, lanes)
  pacing.decide(calm, 0)
  pacing.decide(calm, 30_000)
  return pacing
}

t.test('a run starts at the floor and doubles per hold while the APIs are under budget (slow start)', async (t) => {
  const pacing = createPacingController(settings, 4)
  t.match(pacing.state(), { level: 0.1, reason: 'ramping' })
  pacing.decide(calm, 0)
  t.match(pacing.decide(calm, 3_000), { level: 0.2, reason: 'ramping', apiP99Ms: 20 })
  t.match(pacing.decide(calm, 9_000), { level: 0.8, reason: 'ramping' })
  t.match(pacing.decide(calm, 18_000), { level: 4, reason: 'full' }, 'capped at the lanes it has')
})

t.test('over budget it halves at once, not again within the hold, down to the floor; it recovers when the p99 falls', async (t) => {
  const pacing = rampedUp(settings, 4)
  t.match(pacing.state(), { level: 4, reason: 'full' })
  t.match(pacing.decide(slow, 30_250), { level: 2, reason: 'backoff', detail: 'api p99 240 ms > 100 ms' })
  t.match(pacing.decide(slow, 32_000), { level: 2, reason: 'hold' }, 'the halving has not shown in the reports yet')
  t.match(pacing.decide(slow, 33_250), { level: 1, reason: 'backoff' })
  let now = 33_250
  const later = (ms: number) => {
    now += ms
    return now
  }
  for (let i = 0; i < 10; i++) pacing.decide(slow, later(3_000))
  t.match(pacing.state(), { level: 0.1, reason: 'floor' }, 'never below the floor: the run still moves')
  t.match(
    pacing.decide(calm, later(3_000)),
    { level: 0.2, reason: 'ramping' },
    'under budget again: one floor more per hold, not a doubling — it creeps back towards the level that was too much',
  )
  pacing.decide(calm, later(3_000))
  t.ok(Math.abs(pacing.state().level - 0.3) < 1e-9, `and one more per hold (${pacing.state().level})`)
  t.match(pacing.decide(calm, later(40 * 3_000)), { level: 4, reason: 'full' }, 'back at full speed, given the time')
})

t.test('between 80 % of the budget and the budget it neither climbs nor backs off: climbs from there are probes past the budget', async (t) => {
  const pacing = rampedUp(settings, 4)
  pacing.decide(slow, 30_250)
  t.match(pacing.state(), { level: 2, reason: 'backoff' })
  t.match(pacing.decide({ ...calm, apiP99Ms: 85 }, 40_000), { level: 2, reason: 'hold', detail: 'api p99 85 ms near the budget of 100 ms' })
  t.match(pacing.decide({ ...calm, apiP99Ms: 85 }, 50_000), { level: 2, reason: 'hold' }, 'however long it stays there')
  const climbed = pacing.decide({ ...calm, apiP99Ms: 50 }, 53_000)
  t.match(climbed, { reason: 'ramping', detail: 'api p99 50 ms < 80 ms (80 % of the budget)' })
  t.ok(Math.abs(climbed.level - 2.1) < 1e-9, `below 80 % it climbs again, a floor per hold (${climbed.level})`)
})

t.test('a halving onto the floor is a back-off too (batch_pacing_backoffs_total counts every halving); over budget at the floor it is "floor"', async (t) => {
  const pacing = createPacingController(settings, 4)
  pacing.decide(calm, 0)
  t.match(pacing.decide(calm, 3_000), { level: 0.2 })
  t.match(pacing.decide(slow, 3_250), { level: 0.1, reason: 'backoff' })
  t.match(pacing.decide(slow, 6_250), { level: 0.1, reason: 'floor' }, 'nothing left to halve')
})

t.test('with too few API requests to tell a p99, there is nothing to yield to: full speed at once', async (t) => {
  const pacing = createPacingController(settings, 4)
  t.match(pacing.decide({ ...calm, apiP99Ms: null }, 0), { level: 4, reason: 'full', detail: 'too few API requests to yield to' })
  t.match(pacing.decide(slow, 250), { level: 2, reason: 'backoff' }, 'traffic that turns up over budget is yielded to')
})

t.test('a relative budget: over it when the p99 passes that multiple of the p99 before the run, or the absolute budget if that is tighter', async (t) => {
  const relative = { ...settings, p99Ratio: 1.5 }
  const before20 = { ...calm, baselineP99Ms: 20 }
  t.match(rampedUp(relative, 2).decide({ ...before20, apiP99Ms: 29 }, 30_250), { level: 2, reason: 'full', detail: 'api p99 29 ms near the budget of 30 ms' })
  t.match(rampedUp(relative, 2).decide({ ...before20, apiP99Ms: 40 }, 30_250), { level: 1, reason: 'backoff', detail: 'api p99 40 ms > 30 ms' })
  t.match(
    rampedUp(relative, 2).decide({ ...calm, baselineP99Ms: 90, apiP99Ms: 120 }, 30_250),
    { level: 1, reason: 'backoff', detail: 'api p99 120 ms > 100 ms' },
    'never looser than the absolute budget',
  )
  t.match(
    rampedUp(relative, 2).decide({ ...calm, baselineP99Ms: null, apiP99Ms: 60 }, 30_250),
    { level: 2, reason: 'full' },
    'no baseline (no traffic when planning began): the absolute budget alone',
  )
  t.match(rampedUp(settings, 2).decide({ ...before20, apiP99Ms: 40 }, 30_250), { level: 2, reason: 'full' }, 'ratio 0: off')
})

t.test("the database's Threads_running counts only when a limit is set", async (t) => {
  const busyDb = { ...calm, threadsRunning: 50 }
  t.match(rampedUp(settings, 2).decide(busyDb, 30_250), { level: 2, reason: 'full' })
  t.match(rampedUp({ ...settings, maxThreadsRunning: 32 }, 2).decide(busyDb, 30_250), {
    level: 1,
    reason: 'backoff',
    detail: 'threads running 50 > 32',
  })
})

t.test('a run that would miss its deadline at the current pace goes full speed for the rest of the run, whatever the APIs say', async (t) => {
  const pacing = createPacingController({ ...settings, deadlineMs: 60_000 }, 4)
  pacing.decide({ ...slow, openChunks: 100, runElapsedMs: 10_000 }, 0)
  t.match(pacing.state(), { level: 0.1, reason: 'floor' })
  // 10 chunks in 10 s: the other 90 need 90 s, past the deadline 50 s away.
  t.match(pacing.decide({ ...slow, openChunks: 90, runElapsedMs: 20_000 }, 10_000), { level: 4, reason: 'deadline' })
  t.match(pacing.decide({ ...slow, openChunks: 80, runElapsedMs: 21_000 }, 11_000), { level: 4, reason: 'deadline' }, 'and stays so')
  t.match(
    createPacingController({ ...settings, deadlineMs: 5_000 }, 2).decide({ ...calm, runElapsedMs: 6_000 }, 0),
    { reason: 'deadline' },
    'past it: full speed',
  )
})

t.test('off: every lane, always, whatever the signals', async (t) => {
  const pacing = createPacingController({ ...settings, enabled: false }, 3)
  t.match(pacing.decide(slow, 0), { level: 3, reason: 'off', apiP99Ms: 240 })
})

t.test('the pacer: a lane beyond the level waits; below one lane the lane rests so that it works `level` of the time', async (t) => {
  let reads = 0
  const pacer = createPacer({
    settings: { ...settings, decideMs: 5 },
    lanes: 2,
    readSignals: async () => {
      reads += 1
      return slow
    },
  })
  t.equal(await pacer.admit(0), true, 'the first lane always works')
  t.match(pacer.state(), { level: 0.1, reason: 'floor' }, 'over budget from the first decision: the floor')
  t.equal(await pacer.admit(1), false, 'the second lane waits')
  const before = pacer.restedMs()
  await pacer.rest(10)
  t.ok(pacer.restedMs() - before >= 90, `at level 0.1 a 10 ms chunk is followed by 90 ms of rest (${pacer.restedMs() - before} ms)`)
  t.ok(reads >= 2, 'and it decided again while resting')
  t.match(pacer.state(), { level: 0.1, reason: 'floor' }, 'still over budget: still the floor, never below it')
})

t.test('a rest is capped when the caller says so (a plan resting inside its transaction must not sit idle until the server ends it)', async (t) => {
  const pacer = createPacer({ settings: { ...settings, decideMs: 5 }, lanes: 1, readSignals: async () => slow })
  await pacer.admit(0)
  const started = performance.now()
  await pacer.rest(1_000, undefined, 30)
  const rested = performance.now() - started
  t.ok(rested >= 30 && rested < 1_000, `a 1 s statement at level 0.1 would rest 9 s; capped at 30 ms it rested ${Math.round(rested)} ms`)
})
