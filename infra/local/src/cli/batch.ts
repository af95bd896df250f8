import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import cliProgress from 'cli-progress'
import { createPool, databaseUrl, migrateDatabase } from '@commerce/db'
import { readRunProgress, startBatchWorker, type BatchWorkerProcess, type RunProgress } from '../batch.ts'
import { ensureDatabaseServer } from '../database.ts'
import { forceReasonOf, openRun, previewRun } from '@commerce/batch-worker/admission'
import { builtInStrategies } from '@commerce/batch-worker/chunks'
import { databaseClock } from '@commerce/batch-worker/clock'
import { loadServiceConfig, workerSettings } from '@commerce/batch-worker/config'
import { createRunRepository } from '@commerce/batch-worker/runs'
import { periodPattern } from '@commerce/domain'
import { AppError } from '@commerce/kit'
import { localAuthSecret } from '../secret.ts'
import { fail } from './fail.ts'
import { answerHelp } from './help.ts'

// `npm run batch -- --period 2026-10 --workers 2 [--dry-run]
// [--force --reason "…"]`: the monthly run on M one-shot worker processes, with progress and a
// summary. `--status` only reports; `--dry-run` prints the plan (targets, grade moves) and writes
// nothing. The run is admitted here first (job/admission.ts), so a refusal is one line.
answerHelp(`
usage: npm run batch -- --period YYYY-MM [--workers 2] [--chunk-size N] [--status | --dry-run] [--force --reason "…"]
The monthly grade + coupon run on one-shot worker processes, against DATABASE_URL or the local MariaDB.
  --period      the month to judge (required; it must be over)
  --workers     worker processes, 1 to 32 (default 2)
  --chunk-size  targets per chunk (default: the workers' BATCH_CHUNK_SIZE)
  --status      only report the period's run
  --dry-run     print the plan (targets, chunks, coupons, grade moves); write nothing
  --force       run a period older than an existing run; needs --reason (10 to 500 characters once trimmed, kept on the run)`)

function parseFlags() {
  try {
    const { values } = parseArgs({
      options: {
        period: { type: 'string' },
        workers: { type: 'string', default: '2' },
        'chunk-size': { type: 'string' },
        status: { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        force: { type: 'boolean', default: false },
        reason: { type: 'string' },
      },
      strict: true,
    })
    if (!values.period) throw new Error('--period YYYY-MM is required (e.g. --period 2026-10)')
    if (!periodPattern.test(values.period)) throw new Error(`--period "${values.period}" is invalid: a month as YYYY-MM, e.g. 2026-10`)
    const workers = Number(values.workers)
    if (!Number.isInteger(workers) || workers < 1 || workers > 32) throw new Error('--workers must be an integer from 1 to 32')
    const chunkSize = values['chunk-size']
    if (chunkSize !== undefined && !(Number.isInteger(Number(chunkSize)) && Number(chunkSize) > 0)) throw new Error('--chunk-size must be a positive integer')
    // Before the database is touched; openRun applies it again.
    forceReasonOf(values)
    return {
      period: values.period,
      workers,
      chunkSize,
      status: values.status,
      dryRun: values['dry-run'],
      force: values.force,
      reason: values.reason,
    }
  } catch (error) {
    fail(error instanceof AppError ? `${error.code}: ${error.message}` : error)
  }
}

function printStatus(status: RunProgress | null, period: string): void {
  if (!status) {
    console.log(`no run for ${period}`)
    return
  }
  console.table([
    {
      run: status.id,
      period: status.period,
      status: status.status,
      strategy: status.strategy,
      targets: status.targets,
      chunks: `${status.chunksDone}/${status.chunks ?? '?'} done, ${status.chunksClaimed} in progress`,
      'coupons issued': status.couponsIssued,
      'coupons revoked': status.couponsRevoked,
      'redemptions applied': status.redemptionsApplied,
      'plan s': status.planSeconds,
      'process s': status.processSeconds,
      'total s': status.totalSeconds,
    },
  ])
}

const flags = parseFlags()
let workers: BatchWorkerProcess[] = []
// `on`, not `once`: Ctrl-C arrives twice (from the terminal, and relayed by tsx); a second
// SIGINT without a handler would kill this process before its workers have left.
process.on('SIGINT', () => {
  // Workers finish the chunk in hand and leave; the run stays resumable.
  for (const worker of workers) worker.child.kill('SIGTERM')
})

try {
  await ensureDatabaseServer()
  const url = databaseUrl()
  await migrateDatabase(url)
  const pool = createPool({ url, role: 'tool' })
  if (flags.status) {
    printStatus(await readRunProgress(pool, { period: flags.period }), flags.period)
    await pool.end()
    process.exit(0)
  }

  const env: Record<string, string> = flags.chunkSize ? { BATCH_CHUNK_SIZE: flags.chunkSize } : {}
  const config = loadServiceConfig({ ...process.env, DATABASE_URL: url, AUTH_SECRET: localAuthSecret(), ...env })
  const settings = workerSettings(config)
  const runs = createRunRepository(pool)
  const request = { period: flags.period, force: flags.force, reason: flags.reason }
  if (flags.dryRun) {
    const plan = await previewRun(pool, runs, request, { ...settings, now: databaseClock(pool) })
    console.log(`dry run for ${plan.period}: ${plan.targets} targets in ${plan.chunks} chunks, ${plan.couponsToIssue} coupons to issue; nothing written`)
    console.table(plan.moves)
    await pool.end()
    process.exit(0)
  }
  await openRun(pool, runs, request, {
    strategy: config.BATCH_STRATEGY,
    // What the workers started below (batch-worker run) process.
    strategies: builtInStrategies,
    orphanedAfterMs: settings.planLeaseMs,
    publishDelayMs: settings.publishDelayMs,
    timeZone: settings.timeZone,
    now: databaseClock(pool),
  })
  const started = performance.now()
  workers = Array.from({ length: flags.workers }, (_, index) => startBatchWorker(index, { databaseUrl: url, period: flags.period, env }))
  console.log(`» ${flags.workers} batch workers started for ${flags.period} (logs: ${workers.map((w) => w.logFile).join(', ')})`)

  let running = true
  const outcomes = Promise.all(workers.map((w) => w.finished)).finally(() => (running = false))
  const bar = process.stdout.isTTY
    ? new cliProgress.SingleBar({ format: '  chunks {bar} {value}/{total} | {status}' }, cliProgress.Presets.shades_classic)
    : undefined
  let lastDecile = -1
  while (running) {
    const status = await readRunProgress(pool, { period: flags.period }).catch(() => null)
    if (status?.chunks) {
      if (bar) {
        if (!bar.isActive) bar.start(status.chunks, 0, { status: status.status })
        bar.update(status.chunksDone, { status: status.status })
      } else {
        const decile = Math.floor((status.chunksDone / status.chunks) * 10)
        if (decile > lastDecile) {
          lastDecile = decile
          console.log(`  ${String(decile * 10).padStart(3)} %  ${status.chunksDone}/${status.chunks} chunks (${status.status})`)
        }
      }
    }
    await Promise.race([sleep(200), outcomes])
  }
  bar?.stop()
  const results = await outcomes
  const wallSeconds = (performance.now() - started) / 1000
  const status = await readRunProgress(pool, { period: flags.period })
  await pool.end()
  printStatus(status, flags.period)
  console.table(
    results.map((result, index) => ({
      worker: index,
      exit: result.code ?? result.signal,
      planned: result.report?.planned ?? '-',
      chunks: result.report?.chunksDone ?? '-',
      stolen: result.report?.chunksStolen ?? '-',
      'fenced out': result.report?.fencingRejections ?? '-',
      targets: result.report?.targets ?? '-',
      'coupons issued': result.report?.couponsIssued ?? '-',
      seconds: result.report ? (result.report.ms / 1000).toFixed(2) : '-',
    })),
  )
  console.log(`wall clock ${wallSeconds.toFixed(2)} s (processes started to all exited)`)
  const failedLogs = results.flatMap((result, index) => (result.code === 0 ? [] : [workers[index]?.logFile]))
  if (status?.status !== 'COMPLETED' || failedLogs.length > 0) {
    fail(`run ${status?.status ?? 'missing'}; ${failedLogs.length} worker(s) failed — see ${failedLogs.join(', ') || 'the logs'}`)
  }
} catch (error) {
  for (const worker of workers) worker.child.kill('SIGTERM')
  // A refused request (job/admission.ts) says its code: scripts and operators grep for it.
  fail(error instanceof AppError ? `${error.code}: ${error.message}` : error)
}
