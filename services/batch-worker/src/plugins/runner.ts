import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import type { Registry } from 'prom-client'
import type { Membership } from '@commerce/cluster'
import { createPollingLoop } from '@commerce/cluster'
import { createPool, type Pool, type RowDataPacket } from '@commerce/db'
import { databaseClock, type Clock } from '../clock.ts'
import { batchPoolSettings, workerSettings, type Config } from '../config.ts'
import { openRun, previewRun, type RunRequest } from '../job/admission.ts'
import { createBatchMetrics } from '../job/metrics.ts'
import { createRunRepository, monthlyJob } from '../job/runs.ts'
import { builtInStrategies, hasStrategy, strategyNamed, type ChunkStrategies } from '../job/chunks.ts'
import { dueRun } from '../job/schedule.ts'
import { runWorker } from '../job/worker.ts'

interface RunnerOptions {
  config: Config
  pool: Pool
  membership: Membership
  registry: Registry
  log: FastifyBaseLogger
  clock?: Clock
  /** The chunk strategies this daemon can process (default: the service's own). */
  strategies?: ChunkStrategies
}

/**
 * The daemon's batch loop: every poll it starts the scheduled monthly run when it is due
 * (misfires included, within the grace), then joins the oldest run that is requested or in
 * progress as one more worker. Any number of daemons (and one-shot workers) may do the same:
 * the run protocol makes them share the work, never repeat it.
 */
export function createRunner({ config, pool, membership, registry, log, clock = databaseClock(pool), strategies = builtInStrategies }: RunnerOptions) {
  const known = Object.keys(strategies)
  // A configured default this daemon cannot process is a boot error, not a run that never moves.
  if (!hasStrategy(strategies, config.BATCH_STRATEGY))
    throw new Error(`invalid configuration: BATCH_STRATEGY: "${config.BATCH_STRATEGY}" is not a strategy of this worker (${known.join(', ')})`)
  const settings = workerSettings(config)
  const runs = createRunRepository(pool)
  const metrics = createBatchMetrics(registry)
  const schedule = {
    day: config.BATCH_SCHEDULE_DAY,
    time: config.BATCH_SCHEDULE_TIME,
    timeZone: config.BUSINESS_TIME_ZONE,
    misfireGraceMs: config.BATCH_MISFIRE_GRACE_MS,
  }

  /** Records a run for the period (idempotent), or refuses it (job/admission.ts). */
  async function request(runRequest: RunRequest, strategy: string = config.BATCH_STRATEGY) {
    strategyNamed(strategies, strategy)
    return openRun(pool, runs, runRequest, {
      strategy,
      strategies,
      orphanedAfterMs: settings.planLeaseMs,
      publishDelayMs: settings.publishDelayMs,
      timeZone: config.BUSINESS_TIME_ZONE,
      now: clock,
    })
  }

  /** What a request would plan, refused the same way, with nothing written. */
  async function preview(runRequest: RunRequest) {
    return previewRun(pool, runs, runRequest, { policy: settings.policy, chunkSize: settings.chunkSize, timeZone: config.BUSINESS_TIME_ZONE, now: clock })
  }

  async function tick(signal: AbortSignal): Promise<void> {
    if (config.BATCH_SCHEDULE_ENABLED) {
      const due = dueRun(await clock(), schedule)
      if (due && !(await runs.find(due.period))) {
        log.info({ period: due.period, fireAt: due.fireAt }, 'starting the scheduled monthly run')
        const run = await runs.ensure(due.period, config.BATCH_STRATEGY, settings.publishDelayMs)
        if ('supersededBy' in run) log.warn({ period: due.period, supersededBy: run.supersededBy }, 'scheduled run not started: a later period has a run')
      }
    }
    // Only runs this daemon can process (a benchmark's baseline run is left to the baseline's workers).
    const [open] = await pool.query<RowDataPacket[]>(
      `SELECT period, strategy FROM batch_runs WHERE job = ? AND status IN ('REQUESTED', 'PLANNING', 'RUNNING') AND strategy IN (?)
        ORDER BY requested_at, id LIMIT 1`,
      [monthlyJob, known],
    )
    const run = open[0]
    if (!run) return
    const report = await runWorker({ pool, membership, period: run.period, strategy: run.strategy, strategies, settings, signal, metrics, log })
    log.info({ report }, 'batch run share finished')
  }

  const loop = createPollingLoop({
    intervalMs: config.BATCH_DAEMON_POLL_MS,
    tick: async (signal) => {
      await tick(signal)
      metrics.daemonPolls.inc()
    },
    onError: (error) => log.warn({ err: error }, 'batch daemon step failed; retrying next poll'),
  })

  return {
    request,
    preview,
    start: loop.start,
    /** Stops taking work; the chunks in hand are finished (or fenced out) before it resolves. */
    stop: loop.stop,
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    runner: ReturnType<typeof createRunner>
    batchPool: Pool
  }
}

/** The batch pool (separate from the API pool) and the daemon loop, started when ready. */
export default fp<{ config: Config; clock?: Clock; strategies?: ChunkStrategies }>(
  async (app, { config, clock, strategies }) => {
    const pool = createPool(batchPoolSettings(config))
    const runner = createRunner({ config, pool, membership: app.membership, registry: app.metrics.registry, log: app.log, clock, strategies })
    app.decorate('batchPool', pool)
    app.decorate('runner', runner)
    app.addHook('onReady', async () => {
      void runner.start()
    })
    app.addHook('onClose', async () => {
      await runner.stop()
      await pool.end()
    })
  },
  { name: 'batch-runner', dependencies: ['membership', 'metrics'] },
)
