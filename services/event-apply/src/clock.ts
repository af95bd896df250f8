/*
 * Arrival stamps and open/close decisions read the replica's database clock (the kit's `clock`
 * plugin: the local monotonic clock plus its measured offset to MariaDB's NOW(6)), so a replica
 * whose host clock is off cannot move its applicants up or down the draw's order;
 * (replica_id, replica_seq) breaks exact ties.
 */

/** µs since the epoch → `YYYY-MM-DD HH:MM:SS.ffffff` (UTC) for a DATETIME(6) column. */
export function datetime6(micros: number): string {
  const iso = new Date(Math.floor(micros / 1000)).toISOString()
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${String(micros % 1_000_000).padStart(6, '0')}`
}

/** µs since the epoch → ISO 8601 with microseconds, for responses. */
export const isoMicros = (micros: number): string => `${datetime6(micros).replace(' ', 'T')}Z`
