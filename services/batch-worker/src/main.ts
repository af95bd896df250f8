// The image's entry: `batch-worker daemon` (long-lived, scheduled runs, health/metrics) or
// `batch-worker run --period YYYY-MM [--strategy …]` (one one-shot worker of a batch Job).
const [mode] = process.argv.slice(2)
if (mode === 'daemon') await import('./server.ts')
else if (mode === 'run') await import('./run.ts')
else {
  console.error('error: usage: batch-worker daemon | batch-worker run --period YYYY-MM [--strategy naive|batched|bulk]')
  process.exit(1)
}
