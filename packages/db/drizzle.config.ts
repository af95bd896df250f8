import { defineConfig } from 'drizzle-kit'

// Only `generate` is used: migrations are committed and applied by the migrate job.
export default defineConfig({
  dialect: 'mysql',
  schema: './src/schema/*.ts',
  out: './migrations',
  casing: 'snake_case',
})
