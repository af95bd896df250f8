import t from 'tap'
import { createPool, uuidFromBytes, uuidToBytes, type RowDataPacket } from '../src/index.ts'
import { createTestDatabase } from '../src/testing.ts'

t.test('BINARY(16) UUIDs round-trip every byte value', async (t) => {
  const pool = createPool({ url: await createTestDatabase(t), role: 'api' })
  t.teardown(() => pool.end())
  // 16 ids × 16 bytes cover all 256 byte values, including 0x00 and 0x80..0xff.
  const ids = Array.from({ length: 16 }, (_, row) =>
    Buffer.from(Array.from({ length: 16 }, (_, col) => row * 16 + col))
      .toString('hex')
      .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5'),
  )
  const now = new Date()
  // As the repositories write and read them: raw mysql2 with uuidToBytes / uuidFromBytes.
  await pool.query('INSERT INTO was_instances (id, service, host, pid, started_at, last_heartbeat) VALUES ?', [
    ids.map((id) => [uuidToBytes(id), 'test', 'h', 1, now, now]),
  ])
  const [rows] = await pool.query<RowDataPacket[]>('SELECT id FROM was_instances ORDER BY id')
  t.same(
    rows.map((r) => uuidFromBytes(r.id)),
    ids,
  )
  const [one] = await pool.query<RowDataPacket[]>('SELECT id FROM was_instances WHERE id = ?', [uuidToBytes(ids[15]!)])
  t.equal(uuidFromBytes(one[0]?.id), ids[15])
  const [raw] = await pool.query<RowDataPacket[]>('SELECT HEX(id) AS hex FROM was_instances WHERE id = UNHEX(?)', [ids[8]!.replaceAll('-', '')])
  t.equal(raw[0]?.hex, ids[8]!.replaceAll('-', '').toUpperCase())
})

t.test('API pool sessions carry a short lock wait and UTC', async (t) => {
  const pool = createPool({ url: await createTestDatabase(t), role: 'api', lockWaitTimeoutSec: 3 })
  t.teardown(() => pool.end())
  const [rows] = await pool.query<RowDataPacket[]>('SELECT @@SESSION.innodb_lock_wait_timeout AS wait, @@SESSION.time_zone AS tz')
  t.equal(rows[0]?.wait, 3)
  t.equal(rows[0]?.tz, '+00:00')
})

t.test('a full API pool queue fails fast instead of waiting', async (t) => {
  const pool = createPool({ url: await createTestDatabase(t), role: 'api', connectionLimit: 1, queueLimit: 1 })
  t.teardown(() => pool.end())
  const held = await pool.getConnection()
  const queued = pool.getConnection()
  await t.rejects(pool.getConnection(), { message: 'Queue limit reached.' })
  held.release()
  ;(await queued).release()
})
