/** One line saying what is wrong and what to do, then a non-zero exit. */
export function fail(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error)
  // Some messages (node:util parseArgs's, for one) span lines; a log line must not.
  console.error(`error: ${message.trim().replace(/\s*\n\s*/g, ' ')}`)
  process.exit(1)
}
