import { parseArgs } from 'node:util'
import { hostname } from 'node:os'
import { pino } from 'pino'
import { createMembership } from '@commerce/cluster'
import { createPool } from '@commerce/db'
import { batchPoolSettings, loadServiceConfig, workerSettings } from './config.ts'
import { strategies, type Strategy } from './job/runs.ts'
import { AppError } from '@commerce/kit'
import { runWorker } from './job/worker.ts'

// `batch-worker run --period YYYY-MM [--strategy bulk] [--force --reason "…"]`: one one-shot worker (the container
// entry of a batch Job). Exits 0 once the run is COMPLETED, printing its share as one JSON line.
// SIGTERM/SIGINT: finish the chunks in hand, leave the cluster, exit 0 (survivors finish).
function fail(message: string): never {
  console.error(`error: ${message}`)
  process.exit(1)
}

let flags: { period?: string; strategy?: string; force?: boolean; reason?: string }
try {
  // Reached as `main.ts run …` (the image) or directly as `run.ts …`.
  const args = process.argv.slice(2)
  flags = parseArgs({
    args: args[0] === 'run' ? args.slice(1) : args,
    options: { period: { type: 'string' }, strategy: { type: 'string' }, force: { type: 'boolean' }, reason: { type: 'string' } },
    strict: true,
  }).values
} catch (error) {
  fail(error instanceof Error ? error.message : String(error))
}
if (!flags.period) fail('--period YYYY-MM is required')
if (flags.force && (flags.reason ?? '').trim().length < 10) fail('--force needs --reason "…" (at least 10 characters): it is recorded on the run')
let config: ReturnType<typeof loadServiceConfig>
try {
  config = loadServiceConfig()
} catch (error) {
  fail(error instanceof Error ? error.message : String(error))
}
const strategy = (flags.strategy ?? config.BATCH_STRATEGY) as Strategy
if (!strategies.includes(strategy)) fail(`--strategy must be one of ${strategies.join(', ')}`)

const pool = createPool(batchPoolSettings(config))
const membership = createMembership({ pool, service: 'batch-worker', heartbeatMs: config.HEARTBEAT_MS, host: hostname(), pid: process.pid })
// Retries, takeovers and fencing refusals as JSON lines on stderr (stdout carries the closing
// report): without them a worker that keeps rolling back looks merely slow.
const log = pino({ level: config.LOG_LEVEL, base: { pid: process.pid, service: 'batch-worker' } }, pino.destination(2))
const stop = new AbortController()
process.once('SIGTERM', () => stop.abort())
process.once('SIGINT', () => stop.abort())

let exitCode = 0
try {
  await membership.start()
  const report = await runWorker({
    pool,
    membership,
    period: flags.period,
    strategy,
    settings: workerSettings(config),
    request: { force: flags.force, reason: flags.reason },
    signal: stop.signal,
    log,
  })
  // Peak resident memory (KiB from the kernel) rides along for the benchmark's memory budget.
  console.log(JSON.stringify({ report: { ...report, maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024) } }))
} catch (error) {
  exitCode = 1
  // A refused request (bad period, …) is one line with its code; anything else keeps its stack.
  console.error(`error: ${error instanceof AppError ? `${error.code}: ${error.message}` : error instanceof Error ? error.stack : String(error)}`)
} finally {
  await membership.stop()
  await pool.end().catch(() => undefined)
}
process.exit(exitCode)
