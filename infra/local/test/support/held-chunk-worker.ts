import { setTimeout as sleep } from 'node:timers/promises'
import { batchWorkerMain } from '@commerce/batch-worker/entry'
import { pausing } from '@commerce/batch-worker/testing'

// A test wrapper around batch-worker's entry: its bulk chunks say on stdout when they reach the
// fenced commit, then hold their transaction open for TEST_CHUNK_HOLD_MS (writes done, rows
// locked, not committed), so a test can kill a worker that holds a chunk at a known point.
const holdMs = Number(process.env.TEST_CHUNK_HOLD_MS ?? 0)
await batchWorkerMain(process.argv.slice(2), {
  bulk: pausing({
    beforeCommit: async (chunk) => {
      console.log(JSON.stringify({ holding: chunk.chunkNo }))
      await sleep(holdMs)
    },
  }),
})
