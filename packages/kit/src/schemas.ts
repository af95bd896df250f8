import { Type } from 'typebox'
import { uuidPattern } from '@commerce/domain'

/** A UUID in text form, either case (the storage layer turns it into 16 bytes). */
export const uuidSchema = Type.String({ pattern: uuidPattern.source })

/** Every error body: a stable machine-readable code and a human message. */
export const errorSchema = Type.Object({ code: Type.String(), message: Type.String() })

/** A route's error responses: each status answers the error body. */
export function errorResponses<S extends number>(...statuses: S[]): Record<S, typeof errorSchema> {
  return Object.fromEntries(statuses.map((status) => [status, errorSchema])) as Record<S, typeof errorSchema>
}

/**
 * An Idempotency-Key header value: the alphabet the key columns store (ASCII, compared byte for
 * byte) and their length, so a key that could not be stored is a 400, never a 500.
 */
export const idempotencyKeySchema = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })

/**
 * An instant as RFC 3339 text in one spelling (`T`, `Z` or ±hh:mm up to 14:00, at most 6 fraction
 * digits: what DATETIME(6) keeps) that the database can store and the app can believe. DATETIME(6)
 * holds years 1000–9999 in UTC: past 9999 MariaDB refuses the row (it was a 500), below 1000 mysql2
 * writes a year MariaDB reads otherwise (year 1 came back as 2001, year 0 as 2000). The written
 * year stops at 9998 so that no offset carries the instant past 9999 in UTC. An offset is
 * required: a local time names no instant. `format` checks the calendar (Feb 29 of a common year).
 */
export const instantSchema = Type.String({
  format: 'date-time',
  pattern:
    '^(19[7-9]\\d|[2-8]\\d{3}|9[0-8]\\d{2}|99[0-8]\\d|999[0-8])-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])T([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(\\.\\d{1,6})?(Z|[+-](0\\d|1[0-3]):[0-5]\\d|[+-]14:00)$',
  description: 'RFC 3339, e.g. 2030-01-01T04:00:00Z; years 1970–9998, an offset (Z or ±hh:mm) required',
})

/** A calendar month, `YYYY-MM`, of a year the app has months for: 1970 (firstPeriodYear) to 9999. */
export const periodSchema = Type.String({ pattern: '^(19[7-9]\\d|[2-9]\\d{3})-(0[1-9]|1[0-2])$', description: 'YYYY-MM, a month of the business time zone' })
