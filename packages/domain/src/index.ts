export { defaultGradePolicy, gradeCouponKind, gradeFor, grades, type Grade, type GradePolicy } from './grades.ts'
export {
  defaultBusinessTimeZone,
  firstPeriodYear,
  localDateOf,
  monthStart,
  parsePeriod,
  periodOf,
  periodPattern,
  zonedInstant,
  type PeriodRange,
} from './calendar.ts'
export { rejectionReason, type RedemptionRejection } from './redemption.ts'
export { uuidPattern } from './ids.ts'
export { dailyEvents, drawSettleMs, type DailyEventSchedule, type ScheduledEvent } from './daily-events.ts'
