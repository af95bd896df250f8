import { Type } from 'typebox'

/** Every error body: a stable machine-readable code and a human message. */
export const errorSchema = Type.Object({ code: Type.String(), message: Type.String() })
