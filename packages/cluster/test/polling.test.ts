import t from 'tap'
import { createPollingLoop } from '../src/polling.ts'

/** Resolves when `condition` holds, checking every few milliseconds; fails the test after `withinMs`. */
async function until(condition: () => boolean, withinMs = 5_000): Promise<void> {
  const deadline = performance.now() + withinMs
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

t.test('start() resolves after the first tick; ticks repeat until stop()', async (t) => {
  let ticks = 0
  const loop = createPollingLoop({ intervalMs: 1, tick: async () => void ticks++, onError: (error) => t.error(error) })
  await loop.start()
  t.equal(ticks, 1, 'the first tick ran before start() resolved')
  await until(() => ticks >= 3)
  await loop.stop()
  t.ok(loop.signal.aborted, 'stopped')
})

t.test('stop() waits for the tick in progress, whose signal tells it to wind down', async (t) => {
  let release: () => void = () => undefined
  let entered = false
  let sawAbort = false
  let finished = false
  const loop = createPollingLoop({
    intervalMs: 1,
    tick: async (signal) => {
      await new Promise<void>((resolve) => {
        release = resolve
        entered = true
      })
      sawAbort = signal.aborted
      finished = true
    },
    onError: (error) => t.error(error),
  })
  void loop.start()
  await until(() => entered)
  const stopped = loop.stop().then(() => 'stopped')
  const first = await Promise.race([stopped, new Promise((resolve) => setImmediate(() => resolve('still waiting')))])
  t.equal(first, 'still waiting', 'stop() has not resolved while the tick runs')
  release()
  t.equal(await stopped, 'stopped')
  t.ok(finished && sawAbort, 'the tick finished, told by its signal that the loop is stopping')
})

t.test('a failing tick is reported and tried again', async (t) => {
  const errors: unknown[] = []
  let calls = 0
  const loop = createPollingLoop({
    intervalMs: 1,
    tick: async () => {
      calls++
      if (calls === 1) throw new Error('database away')
    },
    onError: (error) => errors.push(error),
  })
  t.teardown(() => loop.stop())
  await loop.start()
  await until(() => calls >= 2)
  t.equal(errors.length, 1)
  t.match(errors[0], { message: 'database away' })
})

t.test("'after-interval' waits one pause before the first tick; the pause can follow the tick's duration", async (t) => {
  const pauses: number[] = []
  let ticks = 0
  const loop = createPollingLoop({
    intervalMs: (tickMs) => {
      pauses.push(tickMs)
      return pauses.length === 1 ? 60_000 : 1
    },
    firstTick: 'after-interval',
    tick: async () => void ticks++,
    onError: (error) => t.error(error),
  })
  await loop.start()
  t.equal(ticks, 0, 'start() resolved before any tick')
  t.same(pauses, [0], 'the first pause was asked for before any tick ran')
  await loop.stop()
  t.equal(ticks, 0, 'stopped during the first pause: no tick ever ran')

  const timed = createPollingLoop({
    intervalMs: (tickMs) => {
      pauses.push(tickMs)
      return 1
    },
    tick: () => new Promise((resolve) => setTimeout(resolve, 30)),
    onError: (error) => t.error(error),
  })
  await timed.start()
  await until(() => pauses.length >= 2)
  await timed.stop()
  t.ok(pauses[1]! >= 25, `the pause function got the tick's duration (${pauses[1]?.toFixed(1)} ms)`)
})
