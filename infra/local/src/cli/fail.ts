/** One line saying what is wrong and what to do, then a non-zero exit. */
export function fail(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error)
  console.error(`error: ${message}`)
  process.exit(1)
}
