/** The MySQL/MariaDB error code mysql2 put on an error (`ER_DUP_ENTRY`, …), if it is one. */
export const sqlErrorCode = (error: unknown): string | undefined =>
  typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined

/** InnoDB rolled the statement's transaction back to break a deadlock: safe to run it again. */
export const isDeadlock = (error: unknown): boolean => sqlErrorCode(error) === 'ER_LOCK_DEADLOCK'

/** The statement gave up waiting for a row lock (innodb_lock_wait_timeout). */
export const isLockWaitTimeout = (error: unknown): boolean => sqlErrorCode(error) === 'ER_LOCK_WAIT_TIMEOUT'

/** A unique key refused the row: someone else stored it first. */
export const isDuplicateKey = (error: unknown): boolean => sqlErrorCode(error) === 'ER_DUP_ENTRY'
