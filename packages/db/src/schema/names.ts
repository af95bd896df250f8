import { getTableName, is } from 'drizzle-orm'
import { MySqlTable } from 'drizzle-orm/mysql-core'
import * as schema from './index.ts'

/** The SQL names of every table the schema declares — what a migrated database must contain. */
export function schemaTableNames(): string[] {
  return Object.values(schema as Record<string, unknown>)
    .filter((value): value is MySqlTable => is(value, MySqlTable))
    .map((table) => getTableName(table))
    .sort()
}
