import { localDateOf, zonedInstant } from './calendar.ts'

/**
 * After `closes_at`, an application stamped before it may still sit in a replica's group-commit
 * buffer; the draw waits `drawSettleMs` past the close so that it usually gets in. Only a
 * courtesy: correctness takes no clock (see drawWinners).
 */
export const drawSettleMs = 5_000

/** The daily first-come-first-served event (DESIGN §5). */
export interface DailyEventSchedule {
  /** HH:MM in `timeZone`: applications open, and the next day's winners are announced. */
  time: string
  timeZone: string
  durationMinutes: number
  winnerQuota: number
}

/** The scheduled events for the local day of `now` and the `daysAhead` days after it. */
/** One day's event as the schedule defines it; `scheduleKey` makes creating it idempotent. */
export interface ScheduledEvent {
  title: string
  opensAt: Date
  closesAt: Date
  winnerQuota: number
  announceAt: Date
  scheduleKey: string
  /** Daily events are for signed-in customers: one entry per account and per phone (DESIGN §6.6). */
  entry: 'ACCOUNT'
}

export function dailyEvents(now: Date, schedule: DailyEventSchedule, daysAhead = 1): ScheduledEvent[] {
  const [hours = 0, minutes = 0] = schedule.time.split(':').map(Number)
  const today = localDateOf(now, schedule.timeZone)
  return Array.from({ length: daysAhead + 1 }, (_, offset) => {
    const at = (days: number) => zonedInstant(today.year, today.month, today.day + offset + days, hours * 60 + minutes, schedule.timeZone)
    const opensAt = at(0)
    const { year, month, day } = localDateOf(opensAt, schedule.timeZone)
    const date = `${year}-${String(month + 1).padStart(2, '0')}-${String(day).padStart(2, '0')}`
    return {
      title: `Daily event ${date}`,
      opensAt,
      closesAt: new Date(opensAt.getTime() + schedule.durationMinutes * 60_000),
      winnerQuota: schedule.winnerQuota,
      announceAt: at(1),
      scheduleKey: `daily:${date}`,
      entry: 'ACCOUNT',
    }
  })
}
