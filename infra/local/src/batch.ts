import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { readRunProgress, type RunProgress } from '@commerce/batch-worker/progress'
import type { WorkerReport } from '@commerce/batch-worker/worker'
import type { Pool } from '@commerce/db'
import { localDir, repoRoot } from './paths.ts'
import { localAuthSecret } from './secret.ts'
import { nodeArgsFor } from './process.ts'

/** One `batch-worker run` process and what it printed when it finished. */
export interface BatchWorkerProcess {
  index: number
  child: ChildProcess
  logFile: string
  /** Resolves with the worker's JSON report (null when it exited without one) and exit code. */
  finished: Promise<{ code: number | null; signal: NodeJS.Signals | null; report: WorkerShare | null }>
  /**
   * Resolves with the first stdout line (from now on) that `match` accepts; rejects when the worker
   * exits first, so a caller never awaits a line that can no longer come.
   */
  nextLine: (match: (line: string) => boolean) => Promise<string>
}

/** A worker's report as `batch-worker run` prints it, plus its peak memory. */
export type WorkerShare = WorkerReport & { maxRssMb: number }

export interface BatchWorkerOptions {
  databaseUrl: string
  period: string
  strategy?: string
  /** The entry, relative to the repository or absolute (default batch-worker's own; a benchmark's adds its baseline strategies). */
  script?: string
  /** Extra environment (BATCH_CHUNK_SIZE, HEARTBEAT_MS, …) for every worker. */
  env?: Record<string, string>
  /** A command the worker runs under, e.g. `ip netns exec <name>` to start it in its own network. */
  launcher?: string[]
}

/** One-shot workers heartbeat faster than the services' default: a run of seconds sees joins and deaths. */
export const batchWorkerHeartbeatMs = 1_000

/**
 * Starts one one-shot batch worker as a separate process (M of them is what a Kubernetes Job
 * with `parallelism` does): `services/batch-worker/dist/main.js run`, the image's entry. It logs
 * to .local/logs/batch-<i>.log and prints its report as the last stdout line.
 */
export function startBatchWorker(index: number, options: BatchWorkerOptions): BatchWorkerProcess {
  const logDir = join(localDir, 'logs')
  mkdirSync(logDir, { recursive: true })
  const logFile = join(logDir, `batch-${index}.log`)
  const log = createWriteStream(logFile, { flags: 'a' })
  const args = [...nodeArgsFor(options.script ?? 'services/batch-worker/dist/main.js'), 'run', '--period', options.period]
  if (options.strategy) args.push('--strategy', options.strategy)
  const [command, ...prefix] = [...(options.launcher ?? []), process.execPath]
  const child = spawn(command!, [...prefix, ...args], {
    cwd: repoRoot,
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      AUTH_SECRET: localAuthSecret(),
      HEARTBEAT_MS: String(batchWorkerHeartbeatMs),
      LOG_LEVEL: 'info',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let report: WorkerShare | null = null
  const waiters = new Set<{ match: (line: string) => boolean; resolve: (line: string) => void; reject: (error: Error) => void }>()
  createInterface({ input: child.stdout! }).on('line', (line) => {
    log.write(`${line}\n`)
    if (line.startsWith('{"report"')) report = (JSON.parse(line) as { report: WorkerShare }).report
    for (const waiter of waiters) {
      if (!waiter.match(line)) continue
      waiters.delete(waiter)
      waiter.resolve(line)
    }
  })
  child.stderr!.pipe(log, { end: false })
  let exited: Error | undefined
  const finished = new Promise<{ code: number | null; signal: NodeJS.Signals | null; report: WorkerShare | null }>((resolve) => {
    child.once('close', (code, signal) => {
      log.end()
      exited = new Error(`batch worker ${index} exited (${signal ?? `code ${code}`}) before printing the awaited line; see ${logFile}`)
      for (const waiter of waiters) waiter.reject(exited)
      waiters.clear()
      resolve({ code, signal, report })
    })
  })
  const nextLine = (match: (line: string) => boolean) =>
    new Promise<string>((resolve, reject) => {
      if (exited) reject(exited)
      else waiters.add({ match, resolve, reject })
    })
  return { index, child, logFile, finished, nextLine }
}

/**
 * Asks a stack's batch-worker daemons for the run of `period`, as an operator would: POST
 * /ops/batch-worker/runs through nginx with `admin` (an admin's token). Resolves with the run's id.
 */
export async function requestBatchRun(origin: string, admin: string, period: string): Promise<number> {
  const response = await fetch(`${origin}/ops/batch-worker/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ period }),
  })
  if (response.status !== 202) throw new Error(`the run request answered ${response.status}: ${await response.text()}`)
  return ((await response.json()) as { id: number }).id
}

/** Polls run `id` until it is COMPLETED or FAILED; throws after `timeoutMs`. */
export async function awaitRunEnd(pool: Pool, id: number, { timeoutMs, pollMs = 50 }: { timeoutMs: number; pollMs?: number }): Promise<RunProgress> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(pollMs)) {
    const status = await readRunProgress(pool, { id })
    if (status?.status === 'COMPLETED' || status?.status === 'FAILED') return status
  }
  throw new Error(`run ${id} did not end within ${timeoutMs} ms`)
}

export { readRunProgress, readRunStatus, type RunProgress, type RunStatusView } from '@commerce/batch-worker/progress'
