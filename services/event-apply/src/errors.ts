import { AppError, defineErrors } from '@commerce/kit'

/** event-apply's error codes (the kit's VALIDATION, UNAUTHORIZED, FORBIDDEN, OVERLOADED… apply too). */
export const eventErrors = defineErrors({
  EVENT_NOT_FOUND: [404, 'no such event'],
  EVENT_NOT_OPEN: [403, 'the event is not open yet'],
  EVENT_CLOSED: [410, 'the event is closed'],
  DUPLICATE_APPLICATION: [409, 'this phone number has already applied to this event'],
  PHONE_ALREADY_ENTERED: [409, 'this phone number has already applied to this event with another account'],
  APPLICATION_NOT_FOUND: [404, 'no such application'],
  NOT_ANNOUNCED: [403, 'the winners are not announced yet'],
  INVALID_EVENT_WINDOW: [400, 'opensAt < closesAt <= announceAt is required'],
})

/**
 * The 409 names the stored application (and where to read it), so a retry after a lost 201 finds
 * it; its receipt only when the requester proved the entry is theirs (the same account).
 */
export function duplicateApplication(eventId: number, applicationId: string, receipt?: string): AppError {
  const { statusCode, code, message } = eventErrors.DUPLICATE_APPLICATION()
  return new AppError(
    statusCode,
    code,
    message,
    { location: `/events/${eventId}/applications/${applicationId}` },
    receipt === undefined ? { applicationId } : { applicationId, receipt },
  )
}
