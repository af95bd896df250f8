import { batchWorkerMain } from './entry.ts'

// The image's entry: `batch-worker daemon` or `batch-worker run --period YYYY-MM …` (entry.ts).
await batchWorkerMain(process.argv.slice(2))
