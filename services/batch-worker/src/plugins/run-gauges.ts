import fp from 'fastify-plugin'
import { Gauge } from 'prom-client'
import type { Config } from '../config.ts'
import { readOpenRun } from '../job/backlog.ts'
import { readOncePerScrape, scrapedGauges } from './scrape-read.ts'

/**
 * The open monthly run as the database has it, for the alerts (infra/observability/prometheus/
 * alerts.yml): its age, its progress over every worker (one-shot workers are never scraped, so
 * their chunks show only here) and the deadline it is held to. Read on the API pool at each scrape.
 */
export default fp<{ config: Config }>(
  async (app, { config }) => {
    const registers = [app.metrics.registry]
    const read = readOncePerScrape(() => readOpenRun(app.pool), { registry: app.metrics.registry, log: app.log, gauges: 'open-run' })
    scrapedGauges(app.metrics.registry, read, [
      {
        name: 'batch_run_open_age_seconds',
        // 0 with no open run: an age compared with the deadline is then never over it.
        help: 'Seconds since the oldest open (REQUESTED, PLANNING, RUNNING) run was requested, on the database clock; 0 when none is open',
        value: (run) => run?.ageSeconds ?? 0,
      },
      {
        name: 'batch_run_progress_ratio',
        help: "Share of the open run's chunks DONE, by every worker (0 before its plan and when none is open)",
        value: (run) => (run?.chunks ? run.chunksDone / run.chunks : 0),
      },
    ])
    new Gauge({
      name: 'batch_run_deadline_seconds',
      help: 'BATCH_RUN_DEADLINE_MS in seconds: past it the pacer stops yielding to the APIs, and the alert calls the run late',
      registers,
    }).set(config.BATCH_RUN_DEADLINE_MS / 1000)
  },
  { name: 'run-gauges', dependencies: ['db', 'metrics'] },
)
