import { Type } from 'typebox'

/** Every error body: a stable machine-readable code and a human message. */
export const errorSchema = Type.Object({ code: Type.String(), message: Type.String() })

/**
 * An Idempotency-Key header value: the alphabet the key columns store (ASCII, compared byte for
 * byte) and their length, so a key that could not be stored is a 400, never a 500.
 */
export const idempotencyKeySchema = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })
