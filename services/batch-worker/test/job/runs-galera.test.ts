import t from 'tap'
import { createPool, inTransaction, isDeadlock, type Pool, type RowDataPacket } from '@commerce/db'
import { createGaleraTestDatabase } from '@commerce/db/testing'
import { admissionIsolation, createRunRepository, insertRun } from '../../src/job/runs.ts'

// Admission on two nodes of a Galera cluster. On one server the older period's next-key locks make a
// crossing newer admission wait or deadlock; on Galera they exist only on their node. Held like this,
// the newer run's write-set reaches node 1 while the older admission still holds its gap lock there,
// and node 1 aborts it (1213 at COMMIT). When the older one commits first on node 1, before the
// newer one's write-set arrives, only their shared write to batch_admissions makes the cluster
// refuse one of them: that window is too narrow to hold open from a test (DESIGN §6.2).

t.test('an older period admitted on node 1 while a newer one commits on node 2 is refused, then superseded', async (t) => {
  const pools: Pool[] = (await createGaleraTestDatabase(t)).map((url) => createPool({ url, role: 'batch' }))
  t.teardown(() => Promise.all(pools.map((pool) => pool.end())))
  const [node1, node2] = pools as [Pool, Pool]

  // Node 1 has decided to admit 2031-01 (no later run exists) and has not committed yet.
  let release = (): void => undefined
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  let decided = (): void => undefined
  const decision = new Promise<boolean>((resolve) => {
    decided = () => resolve(true)
  })
  const held = inTransaction(
    node1,
    async (conn) => {
      const admitted = await insertRun(conn, { period: '2031-01', strategy: 'bulk', forceReason: null })
      decided()
      await released
      return admitted
    },
    { isolation: admissionIsolation },
  ).catch((error: unknown) => error)
  t.equal(await decision, true)

  // Meanwhile node 2 admits 2031-02 and commits.
  t.match(await createRunRepository(node2).ensure('2031-02', 'bulk', 0), { period: '2031-02', status: 'REQUESTED' })
  release()
  const outcome = await held
  t.ok(isDeadlock(outcome), 'the cluster refused the older admission at COMMIT (1213), not a commit beside the newer one')

  // The caller retries, as ensure() does: now it sees the newer run.
  t.same(await createRunRepository(node1).ensure('2031-01', 'bulk', 0), { supersededBy: '2031-02' })
  const [rows] = await node1.query<RowDataPacket[]>('SET STATEMENT wsrep_sync_wait = 1 FOR SELECT period FROM batch_runs ORDER BY period')
  t.same(
    rows.map((row) => row.period),
    ['2031-02'],
    'no older run was created after the newer one',
  )
})
