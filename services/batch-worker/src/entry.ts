import { boot } from '@commerce/kit'
import { buildApp } from './app.ts'
import { loadServiceConfig } from './config.ts'
import type { ChunkStrategies } from './job/chunks.ts'
import { runOneShot } from './run.ts'

const usage = 'batch-worker daemon | batch-worker run --period YYYY-MM [--strategy bulk] [--force --reason "…"]'

/**
 * Both modes of a batch worker from one entry: `daemon` (long-lived: scheduled runs, the operator
 * routes, health and metrics) or `run` (one one-shot worker of a batch Job). A benchmark's entry
 * calls it with its baseline strategies added.
 */
export async function batchWorkerMain(args: string[], strategies?: ChunkStrategies): Promise<void> {
  const [mode, ...rest] = args
  if (mode === 'daemon') await boot(loadServiceConfig, (config) => buildApp({ config, strategies }))
  else if (mode === 'run') process.exit(await runOneShot(rest, { strategies }))
  else {
    console.error(`error: usage: ${usage}`)
    process.exit(1)
  }
}
