import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Pool, RowDataPacket } from '@commerce/db'
import { localDir, repoRoot } from './paths.ts'
import { localAuthSecret } from './secret.ts'

/** One `batch-worker run` process and what it printed when it finished. */
export interface BatchWorkerProcess {
  index: number
  child: ChildProcess
  logFile: string
  /** Resolves with the worker's JSON report (null when it exited without one) and exit code. */
  finished: Promise<{ code: number | null; signal: NodeJS.Signals | null; report: WorkerShare | null }>
}

export interface WorkerShare {
  workerId: string
  status: string
  planned: boolean
  chunksDone: number
  chunksStolen: number
  fencingRejections: number
  targets: number
  couponsIssued: number
  couponsRevoked: number
  redemptionsApplied: number
  ms: number
  maxRssMb: number
}

export interface BatchWorkerOptions {
  databaseUrl: string
  period: string
  strategy?: string
  /** Extra environment (BATCH_CHUNK_SIZE, HEARTBEAT_MS, …) for every worker. */
  env?: Record<string, string>
}

/**
 * Starts one-shot batch workers as separate processes (what a Kubernetes Job with
 * `parallelism` does): each is `node services/batch-worker/src/run.ts`, logs to
 * .local/logs/batch-<i>.log, and prints its report as the last stdout line.
 */
export function startBatchWorker(index: number, options: BatchWorkerOptions): BatchWorkerProcess {
  const logDir = join(localDir, 'logs')
  mkdirSync(logDir, { recursive: true })
  const logFile = join(logDir, `batch-${index}.log`)
  const log = createWriteStream(logFile, { flags: 'a' })
  const args = ['--import', 'tsx', 'services/batch-worker/src/run.ts', '--period', options.period]
  if (options.strategy) args.push('--strategy', options.strategy)
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      AUTH_SECRET: localAuthSecret(),
      HEARTBEAT_MS: '1000',
      LOG_LEVEL: 'info',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let report: WorkerShare | null = null
  createInterface({ input: child.stdout! }).on('line', (line) => {
    log.write(`${line}\n`)
    if (line.startsWith('{"report"')) report = (JSON.parse(line) as { report: WorkerShare }).report
  })
  child.stderr!.pipe(log, { end: false })
  const finished = new Promise<{ code: number | null; signal: NodeJS.Signals | null; report: WorkerShare | null }>((resolve) => {
    child.once('close', (code, signal) => {
      log.end()
      resolve({ code, signal, report })
    })
  })
  return { index, child, logFile, finished }
}

export interface RunStatus {
  id: number
  period: string
  status: string
  strategy: string
  targets: number | null
  chunks: number | null
  chunksDone: number
  chunksClaimed: number
  couponsIssued: number
  couponsRevoked: number
  redemptionsApplied: number
  /** Seconds, on the DB clock: planning, from publish to COMPLETED, and request to COMPLETED. */
  planSeconds: number | null
  processSeconds: number | null
  totalSeconds: number | null
}

/** A run's progress and timings as stored in the database (the `--status` view). */
export async function readRunStatus(pool: Pool, period: string): Promise<RunStatus | null> {
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT r.id, r.period, r.status, r.strategy, r.target_count, r.chunk_count,
            COALESCE(s.done, 0) AS done, COALESCE(s.claimed, 0) AS claimed,
            COALESCE(s.issued, 0) AS issued, COALESCE(s.revoked, 0) AS revoked, COALESCE(s.applied, 0) AS applied,
            TIMESTAMPDIFF(MICROSECOND, r.plan_started_at, r.planned_at) / 1e6 AS plan_s,
            TIMESTAMPDIFF(MICROSECOND, r.published_at, r.finished_at) / 1e6 AS process_s,
            TIMESTAMPDIFF(MICROSECOND, r.requested_at, r.finished_at) / 1e6 AS total_s
     FROM batch_runs r
     LEFT JOIN (SELECT run_id, SUM(status = 'DONE') AS done, SUM(status = 'CLAIMED') AS claimed,
                       SUM(coupons_issued) AS issued, SUM(coupons_revoked) AS revoked, SUM(redemptions_applied) AS applied
                FROM step_execution_log GROUP BY run_id) s ON s.run_id = r.id
     WHERE r.job = 'monthly-grade' AND r.period = ?`,
    [period],
  )
  const row = rows[0]
  if (!row) return null
  const seconds = (value: unknown) => (value === null ? null : Number(value))
  return {
    id: row.id,
    period: row.period,
    status: row.status,
    strategy: row.strategy,
    targets: row.target_count,
    chunks: row.chunk_count,
    chunksDone: Number(row.done),
    chunksClaimed: Number(row.claimed),
    couponsIssued: Number(row.issued),
    couponsRevoked: Number(row.revoked),
    redemptionsApplied: Number(row.applied),
    planSeconds: seconds(row.plan_s),
    processSeconds: seconds(row.process_s),
    totalSeconds: seconds(row.total_s),
  }
}
