import { setTimeout as sleep } from 'node:timers/promises'
import { batchWorkerMain } from '@commerce/batch-worker/entry'
import { pausing } from '@commerce/batch-worker/testing'

// A test wrapper around batch-worker's entry: its bulk chunks, from the TEST_CHUNK_HOLD_FROM-th
// on (counted from 0, default 0), say on stdout when they reach the fenced commit, then hold their
// transaction open (writes done, rows locked, not committed) for TEST_CHUNK_HOLD_MS, or until the
// process is killed when that is `forever`: a test kills a worker that holds a chunk at a known
// point without racing its commit.
const hold = process.env.TEST_CHUNK_HOLD_MS ?? '0'
const holdFrom = Number(process.env.TEST_CHUNK_HOLD_FROM ?? 0)
let reached = 0
await batchWorkerMain(process.argv.slice(2), {
  bulk: pausing({
    beforeCommit: async (chunk) => {
      if (reached++ < holdFrom) return
      console.log(JSON.stringify({ holding: chunk.chunkNo }))
      // The worker's heartbeat and pool keep the process alive while this never settles.
      await (hold === 'forever' ? new Promise<never>(() => undefined) : sleep(Number(hold)))
    },
  }),
})
