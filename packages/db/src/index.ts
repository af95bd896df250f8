export * from './schema/index.ts'
export { schemaTableNames } from './schema/names.ts'
export { createPool, isPoolSaturated, poolRoles, type PoolRole, type PoolSettings } from './pool.ts'
export { migrateDatabase, dropDatabase, migrationsFolder } from './migrate.ts'
export { databaseUrl, withDatabase, databaseName, localDb } from './url.ts'
export type { Pool, PoolConnection, RowDataPacket, ResultSetHeader } from 'mysql2/promise'
export type { Rows, WithUuidBytes } from './rows.ts'
export { applyPendingRedemptions, type AppliedRedemptions } from './redemptions.ts'
export { inTransaction } from './transaction.ts'
export { isDeadlock, isDuplicateKey, isLockWaitTimeout, sqlErrorCode } from './errors.ts'
export {
  drawWinners,
  ensureScheduledEvents,
  eventsDueForDraw,
  flushGateSlot,
  passFlushGates,
  retryRefused,
  type DrawHooks,
  type DrawResult,
} from './event-draws.ts'
export { uuidV7 } from './uuid-v7.ts'
export { catchUp, databaseTopology, describeTopology, topologyProblem, type DatabaseTopology } from './topology.ts'
