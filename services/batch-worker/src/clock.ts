import type { Pool, Rows } from '@commerce/db'

/**
 * "Now" for every calendar decision the daemon makes: which monthly run is due, whether a period
 * has ended, which daily events to create, which events are due for their draw. The database's
 * clock by default, the one every replica shares; tests inject the instant they are about.
 */
export type Clock = () => Promise<Date>

export function databaseClock(pool: Pool): Clock {
  return async () => {
    const [[row]] = await pool.query<Rows<{ now: Date }>>('SELECT NOW(6) AS now')
    if (!row) throw new Error('SELECT NOW(6) returned no row')
    return row.now
  }
}
