import { inTransaction, isDeadlock, uuidFromBytes, uuidToBytes, type Pool, type PoolConnection, type RowDataPacket } from '@commerce/db'
import { datetime6, type Application, type ApplicationWriterFactory, type WriteOutcome } from '@commerce/event-apply'

/**
 * The write-up's lock-based design of the event, the baseline the event benchmark compares the
 * group commit with. It is not part of event-apply: the benchmark runs event-apply with this
 * writer injected (event-apply-locking.ts) and creates the table itself.
 */
export const lockingTable = 'event_applications_locking'
/** The replicas' entry, for the stack's serverScripts. */
export const lockingServerScript = 'loadtest/src/baselines/event-apply-locking.ts'

/** Deliberately no index on phone: the original's SELECT … FOR UPDATE scans, and locks, every row. */
export async function createLockingTable(pool: Pick<Pool, 'query'>): Promise<void> {
  await pool.query(`CREATE TABLE IF NOT EXISTS ${lockingTable} (
    id binary(16) NOT NULL PRIMARY KEY,
    event_id bigint unsigned NOT NULL,
    name varchar(50) NOT NULL,
    phone varchar(16) NOT NULL,
    received_at datetime(6) NOT NULL
  )`)
}

/** A deadlock victim stored nothing, so it runs again; beyond this many tries the client gets 503. */
const attempts = 3

/** One application: the phone looked up FOR UPDATE, the quota counted, then the INSERT, in one transaction. */
async function applyOnce(conn: PoolConnection, application: Application, quota: number): Promise<WriteOutcome> {
  const [existing] = await conn.query<RowDataPacket[]>(`SELECT id FROM ${lockingTable} WHERE event_id = ? AND phone = ? FOR UPDATE`, [
    application.eventId,
    application.phone,
  ])
  if (existing[0]) return { kind: 'duplicate', applicationId: uuidFromBytes(existing[0].id as Buffer), userId: null }
  const [[count]] = (await conn.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${lockingTable} WHERE event_id = ?`, [application.eventId])) as [
    RowDataPacket[],
    unknown,
  ]
  if (Number(count?.n) >= quota) return { kind: 'full' }
  const { id, eventId, name, phone, receivedAtMicros } = application
  await conn.query(`INSERT INTO ${lockingTable} (id, event_id, name, phone, received_at) VALUES (?, ?, ?, ?, ?)`, [
    uuidToBytes(id),
    eventId,
    name,
    phone,
    datetime6(receivedAtMicros),
  ])
  return { kind: 'inserted' }
}

/** The writer event-apply runs with in the baseline: no buffer, one transaction per request. */
export const lockingWriter: ApplicationWriterFactory = ({ pool }) => ({
  async write(application, { event }) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        // InnoDB's default, which the original ran on: there FOR UPDATE over an unindexed column
        // takes next-key locks on every row it scans and on the gaps between them, so applications
        // queue one behind another and two sends of one phone cannot both find nothing. The API
        // pool's sessions are READ COMMITTED, which locks only matching rows and no gaps: the
        // design would then lock less than the original and store one phone twice.
        const outcome = await inTransaction(pool, (conn) => applyOnce(conn, application, event.winnerQuota), { isolation: 'REPEATABLE READ' })
        // inTransaction answers null only for work that does; this work always answers.
        return outcome ?? { kind: 'full' }
      } catch (error) {
        if (!isDeadlock(error) || attempt >= attempts) throw error
      }
    }
  },
  drain: async () => undefined,
  backlog: () => 0,
})

/**
 * The baseline has no draw: its table must hold one row per phone, at most `quota` of them, one
 * for each 201 the clients received.
 */
export async function auditLocking(pool: Pick<Pool, 'query'>, { eventId, quota, acknowledged }: { eventId: number; quota: number; acknowledged: number }) {
  const [[row]] = (await pool.query<RowDataPacket[]>(`SELECT COUNT(*) AS n, COUNT(DISTINCT phone) AS phones FROM ${lockingTable} WHERE event_id = ?`, [
    eventId,
  ])) as [RowDataPacket[], unknown]
  const rows = Number(row?.n)
  const phones = Number(row?.phones)
  return { ok: rows === phones && rows <= quota && rows === acknowledged, rows, detail: `${rows} rows, ${phones} phones, ${acknowledged} × 201` }
}
