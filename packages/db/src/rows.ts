import type { RowDataPacket } from 'mysql2/promise'

/**
 * The rows of a raw mysql2 query, typed by the drizzle schema: the SQL aliases each column to the
 * schema's property name (`grade_updated_at AS gradeUpdatedAt`), and `T` is a Pick of the table's
 * `$inferSelect`. Valid for the columns mysql2 returns as the schema types them (numbers, strings,
 * enums, DATETIME as Date); binary UUIDs come back as Buffers and are converted where read.
 */
export type Rows<T> = (T & RowDataPacket)[]

/** `T` with its binary UUID columns `K` as mysql2 returns them (Buffers), to convert where read. */
export type WithUuidBytes<T, K extends keyof T> = Omit<T, K> & { [P in K]: Buffer }
