import type { Pool, RowDataPacket } from '@commerce/db'

/**
 * "Now" for every calendar decision the daemon makes: which monthly run is due, whether a period
 * has ended, which daily events to create, which events are due for their draw. The database's
 * clock by default, the one every replica shares; tests inject the instant they are about.
 */
export type Clock = () => Promise<Date>

export function databaseClock(pool: Pool): Clock {
  return async () => {
    const [rows] = await pool.query<RowDataPacket[]>('SELECT NOW(6) AS now')
    return rows[0]?.now as Date
  }
}
