import t, { type Test } from 'tap'
import { v7 as uuidv7 } from 'uuid'
import { createPool, drawWinners, uuidFromBytes, type Pool, type ResultSetHeader, type RowDataPacket } from '@commerce/db'
import { caughtUp, createGaleraTestDatabase } from '@commerce/db/testing'
import { createEventRepository, type Application } from '../src/event-repository.ts'

// The draw and a group commit on two nodes of a Galera cluster, each held (by its hook) at the point
// where the other one commits. Row locks order them on one server; here only a write they share can.

/** A pool on every node of a fresh database on the cluster. */
async function nodes(t: Test): Promise<Pool[]> {
  // Lock waits that outlast any hold: the test, not a timeout, decides when a racer goes on.
  const pools = (await createGaleraTestDatabase(t)).map((url) => createPool({ url, role: 'api', lockWaitTimeoutSec: 60 }))
  t.teardown(() => Promise.all(pools.map((pool) => pool.end())))
  return pools
}

/** An event whose window closed a minute ago: due for its draw, while a flush in flight may still land. */
async function closedEvent(pool: Pool): Promise<number> {
  const [event] = await pool.query<ResultSetHeader>(
    "INSERT INTO events (title, opens_at, closes_at, winner_quota, announce_at) VALUES ('t', NOW(6) - INTERVAL 1 HOUR, NOW(6) - INTERVAL 1 MINUTE, 10, NOW(6) - INTERVAL 1 MINUTE)",
  )
  return event.insertId
}

const application = (eventId: number, phone: string): Application => ({
  id: uuidv7(),
  eventId,
  name: 'n',
  phone,
  userId: null,
  receivedAtMicros: Date.now() * 1000,
  replicaId: uuidv7(),
  replicaSeq: 1,
})

/** A one-way signal between a racer's hook and the test. */
function latch(): { open: () => void; opened: Promise<void> } {
  let open = (): void => undefined
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { open, opened }
}

async function storedAndWon(pool: Pool, eventId: number): Promise<{ stored: string[]; won: string[] }> {
  const [stored] = await pool.query<RowDataPacket[]>('SELECT id FROM event_applications WHERE event_id = ? ORDER BY id', [eventId])
  const [won] = await pool.query<RowDataPacket[]>('SELECT application_id AS id FROM event_winners WHERE event_id = ? ORDER BY application_id', [eventId])
  return { stored: stored.map((r) => uuidFromBytes(r.id)), won: won.map((r) => uuidFromBytes(r.id)) }
}

t.test('a flush that commits on node 1 while the draw runs on node 2 is read by the draw', async (t) => {
  const [node1, node2] = await nodes(t)
  const eventId = await closedEvent(node1!)
  await caughtUp(node2!)
  // The draw reads the applications (none), then waits for the test before it announces.
  const drawHasRead = latch()
  const flushDone = latch()
  const draw = drawWinners(node2!, eventId, {
    afterRead: async () => {
      drawHasRead.open()
      await flushDone.opened
    },
  })
  await drawHasRead.opened
  const flushed = application(eventId, '01012340001')
  const [outcome] = await createEventRepository(node1!).insertApplications([flushed])
  flushDone.open()
  t.same(await draw, { outcome: 'DRAWN', winners: outcome?.kind === 'inserted' ? 1 : 0 })
  await caughtUp(node1!)
  const { stored, won } = await storedAndWon(node1!, eventId)
  t.same(won, stored, 'every stored application was drawn (the quota exceeds them): none escaped the draw')
  t.equal(outcome?.kind, 'inserted', 'the flush committed first, so the draw was refused, ran again and read it')
})

t.test('a flush in flight on node 1 when the draw commits on node 2 stores nothing and learns the event is drawn', async (t) => {
  const [node1, node2] = await nodes(t)
  const eventId = await closedEvent(node1!)
  await caughtUp(node2!)
  // The flush has written its rows and its gate on node 1, and waits for the test before COMMIT.
  const flushHasWritten = latch()
  const drawDone = latch()
  const flush = createEventRepository(node1!, {
    beforeCommit: async () => {
      flushHasWritten.open()
      await drawDone.opened
    },
  }).insertApplications([application(eventId, '01012340002')])
  await flushHasWritten.opened
  t.same(await drawWinners(node2!, eventId), { outcome: 'DRAWN', winners: 0 })
  drawDone.open()
  t.same(await flush, [{ kind: 'drawn' }], 'refused by the cluster, run again, found drawn: a 410, not a 5xx and not a 201')
  await caughtUp(node1!)
  const { stored, won } = await storedAndWon(node1!, eventId)
  t.same({ stored, won }, { stored: [], won: [] })
})
