import { defineErrors } from '@commerce/kit'

/** user-api's error codes (the kit's VALIDATION, UNAUTHORIZED, FORBIDDEN, … apply too). */
export const userErrors = defineErrors({
  USER_NOT_FOUND: [404, 'no such user'],
  IDEMPOTENCY_KEY_REUSED: [409, 'this Idempotency-Key was used for another order'],
})
