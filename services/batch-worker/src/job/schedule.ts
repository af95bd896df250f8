import { monthStart } from '@commerce/domain'

/** When the monthly run fires: day `day` of each month at `time` (HH:MM) in `timeZone`. */
export interface MonthlySchedule {
  day: number
  time: string
  timeZone: string
  /** A run whose fire time is older than this is not started late (a misfire beyond grace). */
  misfireGraceMs: number
}

export interface DueRun {
  /** The period the run grades: the month before the one it fires in. */
  period: string
  fireAt: Date
}

const monthOf = (year: number, month: number) => `${year + Math.floor(month / 12)}-${String((((month % 12) + 12) % 12) + 1).padStart(2, '0')}`

/** The fire time of the run that grades `(year, month)` (0-based month; overflow allowed). */
function fireTimeFor(year: number, month: number, schedule: MonthlySchedule): Date {
  const [hours, minutes] = schedule.time.split(':').map(Number)
  // Local wall-clock arithmetic from local midnight: exact in zones without DST (Asia/Seoul).
  const offsetMs = ((schedule.day - 1) * 24 * 60 + (hours ?? 0) * 60 + (minutes ?? 0)) * 60_000
  return new Date(monthStart(year, month + 1, schedule.timeZone).getTime() + offsetMs)
}

/**
 * The run that should exist at `now`: the latest scheduled fire time at or before `now`, if it
 * is within the misfire grace. A daemon that was down at 00:00 on the 1st starts the run when it
 * comes back; one down for longer than the grace leaves the old period to an operator.
 */
export function dueRun(now: Date, schedule: MonthlySchedule): DueRun | null {
  // Candidates, newest first: the zone may put next month's 1st on this UTC month's last day.
  const year = now.getUTCFullYear()
  const month = now.getUTCMonth()
  for (const graded of [month, month - 1, month - 2]) {
    const fireAt = fireTimeFor(year, graded, schedule)
    if (fireAt.getTime() <= now.getTime()) {
      return now.getTime() - fireAt.getTime() <= schedule.misfireGraceMs ? { period: monthOf(year, graded), fireAt } : null
    }
  }
  return null
}
