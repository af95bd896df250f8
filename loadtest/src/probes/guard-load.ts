import { createBatchView, loadTargetSet } from '@commerce/cluster'
import { createPool } from '@commerce/db'
import { loadTargetMap } from '../baselines/guard-map.ts'
import { probedUsers } from '../scenarios/guard-load.ts'

// One guard load in a fresh process (`node --expose-gc`), so its heap is measured alone:
// `set` is the API replicas' view (compact target set) of the RUNNING run, `stored` the same set
// of any run, finished ones too (what a replica read when it was published), `map` the per-row
// map the set replaced.
// Prints one JSON line: load milliseconds, retained heap bytes, and a lookup check (`stored`: the
// set's size, whose lookups return ranks, not chunks).
const [url, mode, runIdText] = process.argv.slice(2)
const gc = (globalThis as { gc?: () => void }).gc
if (!url || !['set', 'stored', 'map'].includes(mode ?? '') || !gc) throw new Error('usage: node --expose-gc guard-load.ts <url> set|stored|map <runId>')
const runId = Number(runIdText)
const pool = createPool({ url, role: 'api', connectionLimit: 1 })
await pool.query('SELECT 1')
gc()
const heapBefore = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers
const started = performance.now()
let lookup: (userId: number) => number | null
let keep: unknown
/** The compact set's own size: exact, where the heap difference is noise at small scales. */
let setBytes: number | null = null
/** How many targets the stored set holds (`stored`: the caller checks it against the run). */
let targets: number | null = null
if (mode === 'set') {
  const view = createBatchView({ pool, refreshMs: 60_000 })
  await view.refresh()
  keep = view
  setBytes = view.targetBytes()
  lookup = (userId) => view.inBatch(userId)?.chunkNo ?? null
} else if (mode === 'stored') {
  const set = await loadTargetSet(pool, runId)
  keep = set
  setBytes = set.bytes
  targets = set.size
  lookup = (userId) => {
    const rank = set.rankOf(userId)
    return rank < 0 ? null : rank
  }
} else {
  const map = await loadTargetMap(pool, runId)
  keep = map
  lookup = (userId) => map.get(userId) ?? null
}
const ms = performance.now() - started
gc()
const retained = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers - heapBefore
const probe = probedUsers.map((userId) => lookup(userId))
console.log(JSON.stringify({ mode, ms, retainedBytes: retained, setBytes, targets, probe, kept: keep !== undefined }))
await pool.end()
