import { defineErrors } from '@commerce/kit'

/** batch-worker's error codes (the kit's VALIDATION, UNAUTHORIZED, FORBIDDEN, … apply too). */
export const batchErrors = defineErrors({
  RUN_NOT_FOUND: [404, 'no such batch run'],
  PERIOD_NOT_ENDED: [400, 'the period has not ended yet; a monthly run needs the whole month'],
})
