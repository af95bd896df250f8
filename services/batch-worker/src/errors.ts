import { defineErrors } from '@commerce/kit'

/** batch-worker's error codes (the kit's VALIDATION, UNAUTHORIZED, FORBIDDEN, … apply too). */
export const batchErrors = defineErrors({
  RUN_NOT_FOUND: [404, 'no such batch run'],
  INVALID_PERIOD: [400, 'the period is not a month YYYY-MM from 1970 on'],
  PERIOD_NOT_ENDED: [400, 'the period has not ended yet; a monthly run needs the whole month'],
  PERIOD_BEFORE_ORDERS: [400, 'the period ends before the first order: there is nothing to grade it from'],
  PERIOD_SUPERSEDED: [400, 'a later period already has a run; an older one needs force and a reason'],
  UNKNOWN_STRATEGY: [400, 'this worker has no such chunk strategy'],
  EVENT_NOT_FOUND: [404, 'no such event'],
  EVENT_STILL_OPEN: [409, 'the event has not closed long enough ago to be drawn'],
})
