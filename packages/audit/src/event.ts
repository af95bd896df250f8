import { uuidToBytes, type Pool, type RowDataPacket } from '@commerce/db'
import type { AuditCheck, AuditResult } from './batch.ts'

/**
 * Checks DESIGN §9 invariant 4 for one event, from scratch: unique applications per phone,
 * every application a client saw acknowledged (201) is stored, and — once drawn — exactly
 * min(quota, applicants) winners who are the earliest by (received_at, replica_id, replica_seq).
 * Read-only.
 */
export async function auditEvent(
  pool: Pool,
  { eventId, acknowledged = [], expectDrawn = false }: { eventId: number; acknowledged?: string[]; expectDrawn?: boolean },
): Promise<AuditResult> {
  const checks: AuditCheck[] = []
  const [[event]] = (await pool.query<RowDataPacket[]>('SELECT status, winner_quota FROM events WHERE id = ?', [eventId])) as [RowDataPacket[], unknown]
  if (!event) return { ok: false, checks: [{ name: 'event exists', ok: false, detail: `no event ${eventId}` }] }

  const [duplicates] = await pool.query<RowDataPacket[]>(
    'SELECT phone, COUNT(*) AS n FROM event_applications WHERE event_id = ? GROUP BY phone HAVING COUNT(*) > 1 LIMIT 5',
    [eventId],
  )
  checks.push({
    name: '4. one application per phone',
    ok: duplicates.length === 0,
    detail: duplicates.length === 0 ? 'ok' : `e.g. ${duplicates.map((d) => `${d.phone}×${d.n}`).join(', ')}`,
  })

  let missing = 0
  const examples: string[] = []
  for (let i = 0; i < acknowledged.length; i += 1_000) {
    const ids = acknowledged.slice(i, i + 1_000)
    const [found] = await pool.query<RowDataPacket[]>('SELECT LOWER(HEX(id)) AS id FROM event_applications WHERE event_id = ? AND id IN (?)', [
      eventId,
      ids.map(uuidToBytes),
    ])
    const stored = new Set(found.map((row) => String(row.id)))
    for (const id of ids) {
      if (stored.has(id.replaceAll('-', '').toLowerCase())) continue
      missing += 1
      if (examples.length < 5) examples.push(id)
    }
  }
  checks.push({
    name: '4. every acknowledged (201) application is stored',
    ok: missing === 0,
    detail: missing === 0 ? `${acknowledged.length} acknowledged, all stored` : `${missing} missing; e.g. ${examples.join(', ')}`,
  })

  if (event.status !== 'ANNOUNCED') {
    checks.push({ name: '4. winners drawn', ok: !expectDrawn, detail: 'not drawn yet' })
    return { ok: checks.every((c) => c.ok), checks }
  }
  const [[counts]] = (await pool.query<RowDataPacket[]>(
    'SELECT (SELECT COUNT(*) FROM event_applications WHERE event_id = ?) AS applicants, (SELECT COUNT(*) FROM event_winners WHERE event_id = ?) AS winners',
    [eventId, eventId],
  )) as [RowDataPacket[], unknown]
  const expected = Math.min(Number(event.winner_quota), Number(counts?.applicants))
  checks.push({
    name: '4. winners = min(quota, applicants)',
    ok: Number(counts?.winners) === expected,
    detail: `${Number(counts?.winners)} winners, quota ${Number(event.winner_quota)}, ${Number(counts?.applicants)} applicants`,
  })
  // The ranking recomputed here, compared rank by rank with what the draw stored.
  const [wrong] = await pool.query<RowDataPacket[]>(
    `SELECT COALESCE(r.\`rank\`, w.\`rank\`) AS \`rank\` FROM
       (SELECT ROW_NUMBER() OVER (ORDER BY received_at, replica_id, replica_seq) AS \`rank\`, id FROM event_applications WHERE event_id = ?
        ORDER BY received_at, replica_id, replica_seq LIMIT ?) r
     LEFT JOIN event_winners w ON w.event_id = ? AND w.\`rank\` = r.\`rank\`
     WHERE w.application_id IS NULL OR w.application_id <> r.id
     UNION ALL
     SELECT w.\`rank\` FROM event_winners w WHERE w.event_id = ? AND w.\`rank\` > ?
     LIMIT 5`,
    [eventId, Number(event.winner_quota), eventId, eventId, expected],
  )
  checks.push({
    name: '4. winners are the earliest arrivals, in rank order',
    ok: wrong.length === 0,
    detail: wrong.length === 0 ? 'ok' : `ranks differ, e.g. ${wrong.map((w) => w.rank).join(', ')}`,
  })
  return { ok: checks.every((c) => c.ok), checks }
}
