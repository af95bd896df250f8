import { parseArgs } from 'node:util'
import { hostname } from 'node:os'
import { pino } from 'pino'
import { createMembership } from '@commerce/cluster'
import { createPool } from '@commerce/db'
import { AppError } from '@commerce/kit'
import { batchPoolSettings, loadServiceConfig, workerSettings } from './config.ts'
import { forceReasonOf } from './job/admission.ts'
import { builtInStrategies, type ChunkStrategies } from './job/chunks.ts'
import { runWorker } from './job/worker.ts'

/**
 * `batch-worker run --period YYYY-MM [--strategy bulk] [--force --reason "…"]`: one one-shot worker
 * (the container entry of a batch Job). Resolves with the exit code: 0 once the run is COMPLETED,
 * its share printed as one JSON line on stdout; 1 on a refused request or a worker that gave up.
 * SIGTERM/SIGINT: finish the chunks in hand, leave the cluster, 0 (survivors finish).
 */
export async function runOneShot(args: string[], { strategies = builtInStrategies }: { strategies?: ChunkStrategies } = {}): Promise<number> {
  const failed = (message: string) => {
    console.error(`error: ${message}`)
    return 1
  }
  let flags: { period?: string; strategy?: string; force?: boolean; reason?: string }
  let config: ReturnType<typeof loadServiceConfig>
  try {
    flags = parseArgs({
      args,
      options: { period: { type: 'string' }, strategy: { type: 'string' }, force: { type: 'boolean' }, reason: { type: 'string' } },
      strict: true,
    }).values
    config = loadServiceConfig()
  } catch (error) {
    return failed(error instanceof Error ? error.message : String(error))
  }
  if (!flags.period) return failed('--period YYYY-MM is required')
  try {
    // Before connecting anywhere; openRun applies it again.
    forceReasonOf(flags)
  } catch (error) {
    return failed(error instanceof AppError ? `${error.code}: ${error.message}` : String(error))
  }

  const pool = createPool(batchPoolSettings(config))
  const membership = createMembership({ pool, service: 'batch-worker', heartbeatMs: config.HEARTBEAT_MS, host: hostname(), pid: process.pid })
  // Retries, takeovers and fencing refusals as JSON lines on stderr (stdout carries the closing
  // report): without them a worker that keeps rolling back looks merely slow.
  const log = pino({ level: config.LOG_LEVEL, base: { pid: process.pid, service: 'batch-worker' } }, pino.destination(2))
  const stop = new AbortController()
  process.once('SIGTERM', () => stop.abort())
  process.once('SIGINT', () => stop.abort())
  try {
    await membership.start()
    const report = await runWorker({
      pool,
      membership,
      period: flags.period,
      strategy: flags.strategy ?? config.BATCH_STRATEGY,
      strategies,
      settings: workerSettings(config),
      request: { force: flags.force, reason: flags.reason },
      signal: stop.signal,
      log,
    })
    // Peak resident memory (KiB from the kernel) rides along for the benchmark's memory budget.
    console.log(JSON.stringify({ report: { ...report, maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024) } }))
    return 0
  } catch (error) {
    // A refused request (bad period, unknown strategy, …) is one line with its code; anything else keeps its stack.
    return failed(error instanceof AppError ? `${error.code}: ${error.message}` : error instanceof Error ? (error.stack ?? error.message) : String(error))
  } finally {
    await membership.stop()
    await pool.end().catch(() => undefined)
  }
}
