import { batchWorkerMain } from '@commerce/batch-worker/entry'
import { rowByRowStrategies } from './row-by-row-batch.ts'

// batch-worker with the row-by-row baselines (naive, batched) beside bulk: `run --period …` as a
// one-shot worker (startBatchWorker's script), and the daemon when started with no mode (the
// stack starts its replicas' scripts without arguments).
const args = process.argv.slice(2)
await batchWorkerMain(args.length > 0 ? args : ['daemon'], rowByRowStrategies(Number(process.env.NAIVE_ROW_PAUSE_MS ?? 0)))
