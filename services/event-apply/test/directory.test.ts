import t from 'tap'
import { createPool, type ResultSetHeader } from '@commerce/db'
import { createTestDatabase } from '@commerce/db/testing'
import { createEventDirectory } from '../src/directory.ts'
import { createEventRepository } from '../src/event-repository.ts'

t.test('unknown ids: a bounded memory of misses, no query for a repeated one, a new event found once its miss expires', async (t) => {
  const pool = createPool({ url: await createTestDatabase(t), role: 'api' })
  t.teardown(() => pool.end())
  const repo = createEventRepository(pool)
  // Every lookup the directory makes goes through here: the count is of real queries.
  let lookups = 0
  const counted = {
    ...repo,
    findEvents: (ids: number[]) => {
      lookups += 1
      return repo.findEvents(ids)
    },
  }
  let now = 0
  const directory = createEventDirectory({
    repo: counted,
    refreshMs: 60_000,
    log: { warn: () => {} },
    missing: { limit: 10, ttlMs: 1_000 },
    clock: () => now,
    wallClock: Date.now,
  })
  const insertEvent = async (id: number) => {
    await pool.query<ResultSetHeader>(
      "INSERT INTO events (id, title, opens_at, closes_at, winner_quota, announce_at) VALUES (?, 'test', NOW(6), NOW(6) + INTERVAL 1 HOUR, 1, NOW(6) + INTERVAL 2 HOUR)",
      [id],
    )
  }
  await insertEvent(1)
  t.equal((await directory.get(1))?.event.id, 1)

  const unknown = Array.from({ length: 100 }, (_, i) => 1_000 + i)
  const answers = []
  for (const id of unknown) answers.push(await directory.get(id))
  t.same(new Set(answers), new Set([null]), 'unknown ids are unknown')
  t.equal(lookups, 101, 'each unknown id is looked up once')
  for (let round = 0; round < 5; round += 1) for (const id of unknown.slice(-10)) await directory.get(id)
  t.equal(lookups, 101, 'a remembered miss costs no query')
  t.equal((await directory.get(1))?.event.id, 1)
  t.equal(lookups, 101, 'a flood of misses does not push a real event out')
  await directory.get(unknown[0]!)
  t.equal(lookups, 102, 'the oldest misses were forgotten')

  await insertEvent(unknown[0]!)
  t.equal(await directory.get(unknown[0]!), null, 'created after its miss was remembered: missing until the miss expires')
  t.equal(lookups, 102)
  now += 1_000
  t.equal((await directory.get(unknown[0]!))?.event.id, unknown[0], 'found once the miss has expired')
  t.same(directory.entries(), { known: 2, missing: 9 }, 'the memory of misses never held more than its limit')
})
