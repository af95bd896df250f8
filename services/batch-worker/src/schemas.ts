import { Type } from 'typebox'
import { pacingReasons } from './job/pacing.ts'

// Response shapes that more than one route answers (GET /runs and the console's snapshot).
const nullableNumber = Type.Union([Type.Number(), Type.Null()])

/** A run's progress and timings (job/progress.ts), as the routes and the console answer it. */
export const runProgressSchema = Type.Object({
  id: Type.Integer(),
  period: Type.String(),
  status: Type.String(),
  strategy: Type.String(),
  targets: nullableNumber,
  chunks: nullableNumber,
  chunksDone: Type.Integer(),
  chunksClaimed: Type.Integer(),
  couponsIssued: Type.Integer(),
  couponsRevoked: Type.Integer(),
  redemptionsApplied: Type.Integer(),
  planSeconds: nullableNumber,
  processSeconds: nullableNumber,
  totalSeconds: nullableNumber,
  forceReason: Type.Union([Type.String(), Type.Null()], { description: 'why an operator forced this run of an older period' }),
})
/** One live worker's pace on a run (job/pacing.ts). */
export const workerPaceSchema = Type.Object({
  worker: Type.String(),
  level: Type.Number({ description: "lanes' worth of work (below 1: one lane resting between chunks)" }),
  reason: Type.Enum(pacingReasons),
})
