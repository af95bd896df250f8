/**
 * Periods are calendar months of the business's time zone (the shop is Korean: October is
 * 2026-10-01 00:00 to 2026-11-01 00:00 Asia/Seoul), stored and compared as UTC instants.
 */
export const defaultBusinessTimeZone = 'Asia/Seoul'

export interface PeriodRange {
  period: string
  /** First instant of the month in the business time zone. */
  start: Date
  /** First instant of the next month, exclusive. */
  end: Date
  /** Grade coupons of this period are valid until the end of the following month. */
  couponExpiresAt: Date
}

/** `YYYY-MM` (month 01–12): every parser of a period (routes, CLIs) checks this one shape. */
export const periodPattern = /^(\d{4})-(0[1-9]|1[0-2])$/
/** Orders, runs and every clock here are after the epoch; an earlier "year" is a typo (0026 for 2026). */
export const firstPeriodYear = 1970

/** How far `timeZone`'s wall clock is ahead of UTC at `instant` (ms). Throws RangeError for an unknown zone. */
function zoneOffsetMs(instant: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(instant)
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value)
  const wall = Date.UTC(part('year'), part('month') - 1, part('day'), part('hour'), part('minute'), part('second'))
  return wall - Math.floor(instant / 1000) * 1000
}

/** The instant `timeZone`'s wall clock shows `minutes` past midnight on (year, month 0-based, day); fields may overflow. */
export function zonedInstant(year: number, month: number, day: number, minutes: number, timeZone: string): Date {
  const wall = Date.UTC(year, month, day, 0, minutes)
  // Twice: the offset at the first guess may differ from the one at the answer (DST zones).
  const guess = wall - zoneOffsetMs(wall, timeZone)
  return new Date(wall - zoneOffsetMs(guess, timeZone))
}

/** The instant of local midnight starting day 1 of `month` (0-based, may overflow into later years). */
export function monthStart(year: number, month: number, timeZone: string): Date {
  return zonedInstant(year, month, 1, 0, timeZone)
}

/** The calendar date (month 0-based) that `instant` falls on in `timeZone`. */
export function localDateOf(instant: Date, timeZone: string): { year: number; month: number; day: number } {
  const shifted = new Date(instant.getTime() + zoneOffsetMs(instant.getTime(), timeZone))
  return { year: shifted.getUTCFullYear(), month: shifted.getUTCMonth(), day: shifted.getUTCDate() }
}

/** Parses `YYYY-MM` as a month of `timeZone`; null when malformed or before `firstPeriodYear`. */
export function parsePeriod(period: string, timeZone = defaultBusinessTimeZone): PeriodRange | null {
  const match = periodPattern.exec(period)
  if (!match) return null
  const year = Number(match[1])
  if (year < firstPeriodYear) return null
  const month = Number(match[2]) - 1
  return {
    period,
    start: monthStart(year, month, timeZone),
    end: monthStart(year, month + 1, timeZone),
    couponExpiresAt: new Date(monthStart(year, month + 2, timeZone).getTime() - 1),
  }
}

/** `YYYY-MM` of the month that contains `instant` in `timeZone`. */
export function periodOf(instant: Date, timeZone = defaultBusinessTimeZone): string {
  const { year, month } = localDateOf(instant, timeZone)
  return `${year}-${String(month + 1).padStart(2, '0')}`
}
