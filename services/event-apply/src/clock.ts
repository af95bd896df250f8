/**
 * Arrival stamps in microseconds since the epoch: the wall clock at process start plus a
 * monotonic offset, so stamps never go backwards within a replica (NTP steps cannot reorder
 * its arrivals). Across replicas, ordering relies on synchronised host clocks, as any
 * "first to arrive at the server" rule must; (replica_id, replica_seq) breaks exact ties.
 */
export const arrivalMicros = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000)

/** µs since the epoch → `YYYY-MM-DD HH:MM:SS.ffffff` (UTC) for a DATETIME(6) column. */
export function datetime6(micros: number): string {
  const iso = new Date(Math.floor(micros / 1000)).toISOString()
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${String(micros % 1_000_000).padStart(6, '0')}`
}

/** µs since the epoch → ISO 8601 with microseconds, for responses. */
export const isoMicros = (micros: number): string => `${datetime6(micros).replace(' ', 'T')}Z`
