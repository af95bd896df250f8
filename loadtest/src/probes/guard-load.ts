import { createBatchView } from '@commerce/cluster'
import { createPool } from '@commerce/db'
import { loadTargetMap } from '../baselines/guard-map.ts'
import { probedUsers } from '../scenarios/guard-load.ts'

// One guard load in a fresh process (`node --expose-gc`), so its heap is measured alone:
// `set` is the API replicas' view (compact target set), `map` the per-row map it replaced.
// Prints one JSON line: load milliseconds, retained heap bytes, and a lookup check.
const [url, mode, runIdText] = process.argv.slice(2)
const gc = (globalThis as { gc?: () => void }).gc
if (!url || (mode !== 'set' && mode !== 'map') || !gc) throw new Error('usage: node --expose-gc guard-load.ts <url> set|map <runId>')
const runId = Number(runIdText)
const pool = createPool({ url, role: 'api', connectionLimit: 1 })
await pool.query('SELECT 1')
gc()
const heapBefore = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers
const started = performance.now()
let lookup: (userId: number) => number | null
let keep: unknown
if (mode === 'set') {
  const view = createBatchView({ pool, refreshMs: 60_000 })
  await view.refresh()
  keep = view
  lookup = (userId) => view.inBatch(userId)?.chunkNo ?? null
} else {
  const map = await loadTargetMap(pool, runId)
  keep = map
  lookup = (userId) => map.get(userId) ?? null
}
const ms = performance.now() - started
gc()
const retained = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers - heapBefore
const probe = probedUsers.map((userId) => lookup(userId))
console.log(JSON.stringify({ mode, ms, retainedBytes: retained, probe, kept: keep !== undefined }))
await pool.end()
