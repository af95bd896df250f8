import t from 'tap'
import { createClientLimits } from '../src/client-limits.ts'

t.test('each client has its own bucket: a burst, then the rate; one client’s flood leaves another untouched', async (t) => {
  let nowMs = 0
  const limits = createClientLimits({ perSecond: 2, burst: 3, maxClients: 100, nowMs: () => nowMs })
  t.same(
    Array.from({ length: 5 }, () => limits.take('bot')),
    [true, true, true, false, false],
    'the burst, then refused',
  )
  t.ok(limits.take('human'), 'another client is not charged for the bot')
  nowMs += 500
  t.same([limits.take('bot'), limits.take('bot')], [true, false], 'one token back after half a second at 2/s')
  nowMs += 60_000
  t.same(
    Array.from({ length: 4 }, () => limits.take('bot')),
    [true, true, true, false],
    'an idle client refills to the burst, not beyond',
  )
})

t.test('memory is bounded: beyond maxClients the least recently seen are forgotten (a fresh, full bucket)', async (t) => {
  let nowMs = 0
  const limits = createClientLimits({ perSecond: 1, burst: 1, maxClients: 3, nowMs: () => nowMs })
  for (const client of ['a', 'b', 'c']) t.ok(limits.take(client))
  t.notOk(limits.take('a'), 'a is empty')
  t.ok(limits.take('d'), 'a fourth client')
  t.equal(limits.size(), 3)
  nowMs += 1
  t.notOk(limits.take('a'), 'a was seen most recently of the first three, so it is kept (still empty)')
  t.ok(limits.take('b'), 'b was the least recently seen: forgotten, so it starts full')
})
