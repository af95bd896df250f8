import { defineErrors } from '@commerce/kit'

/** batch-worker's error codes (the kit's VALIDATION, UNAUTHORIZED, FORBIDDEN, … apply too). */
export const batchErrors = defineErrors({
  RUN_NOT_FOUND: [404, 'no such batch run'],
  PERIOD_NOT_ENDED: [400, 'the period has not ended yet; a monthly run needs the whole month'],
  EVENT_NOT_FOUND: [404, 'no such event'],
  EVENT_STILL_OPEN: [409, 'the event has not closed long enough ago to be drawn'],
})
