import t from 'tap'
import { createPool, type Pool, type RowDataPacket } from '../src/index.ts'
import { createTestDatabase } from '../src/testing.ts'

async function pool(t: Parameters<typeof createTestDatabase>[0], settings: Partial<Parameters<typeof createPool>[0]> = {}): Promise<Pool> {
  const created = createPool({ url: settings.url ?? (await createTestDatabase(t)), role: 'api', ...settings })
  t.teardown(() => created.end())
  return created
}

const sessionId = async (pool: Pool) => Number((await pool.query<RowDataPacket[]>('SELECT CONNECTION_ID() AS id'))[0][0]?.id)

t.test('a statement past its timeout fails and takes its connection with it; the next one gets a fresh session', async (t) => {
  const db = await pool(t, { connectionLimit: 1, statementTimeoutMs: 300 })
  const before = await sessionId(db)
  // A server that does not answer (a black-holed network): its own bound switched off for this session,
  // the client stops waiting and destroys the connection.
  await db.query('SET SESSION max_statement_time = 0')
  await t.rejects(db.query('SELECT SLEEP(3)'), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' })
  t.not(await sessionId(db), before, 'the timed-out session is not reused')
  const conn = await db.getConnection()
  await conn.query('SET SESSION max_statement_time = 0')
  await t.rejects(conn.query('SELECT SLEEP(3)'), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' }, 'a checked-out connection is bounded too')
  conn.release()
  t.ok((await sessionId(db)) > 0, 'and the pool goes on with a fresh one')
})

t.test('the server bounds every statement and every transaction a client leaves open', async (t) => {
  const url = await createTestDatabase(t)
  const db = await pool(t, { url })
  const [[session]] = (await db.query<RowDataPacket[]>(
    'SELECT @@SESSION.max_statement_time AS statement, @@SESSION.idle_transaction_timeout AS idle_transaction, @@SESSION.wait_timeout AS idle',
  )) as [RowDataPacket[], unknown]
  t.same({ ...session }, { statement: 5, idle_transaction: 5, idle: 600 }, 'api sessions: 5 s per statement, 5 s idle in a transaction, 10 min idle')
  // A client that opens a transaction, locks a row and goes silent: the server ends it and frees the lock.
  const short = await pool(t, { url, connectionLimit: 1 })
  await short.query('CREATE TABLE held (id INT PRIMARY KEY)')
  await short.query('INSERT INTO held VALUES (1)')
  const silent = await short.getConnection()
  await silent.query('SET SESSION idle_transaction_timeout = 1')
  await silent.beginTransaction()
  await silent.query('SELECT id FROM held WHERE id = 1 FOR UPDATE')
  const other = await db.getConnection()
  t.teardown(() => other.release())
  await other.query('SET SESSION innodb_lock_wait_timeout = 10')
  await other.beginTransaction()
  const [rows] = await other.query<RowDataPacket[]>('SELECT id FROM held WHERE id = 1 FOR UPDATE')
  t.equal(rows.length, 1, 'the row was freed once the silent transaction was rolled back by the server')
  await other.rollback()
  silent.destroy()
})
