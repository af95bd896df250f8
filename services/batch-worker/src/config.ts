import { batchGuardConfigProperties, loadConfig, serviceConfig } from '@commerce/kit'
import { Type, type Static } from 'typebox'
import type { PoolSettings } from '@commerce/db'
import { defaultBusinessTimeZone, defaultGradePolicy, type GradePolicy } from '@commerce/domain'
import type { WorkerSettings } from './job/worker.ts'
import { consoleConfigProperties } from './plugins/console-feed.ts'

const { thresholds } = defaultGradePolicy

/** A chunk strategy's name as a run records it (batch_runs.strategy, 16 characters). */
export const strategyNameSchema = Type.String({ pattern: '^[a-z][a-z0-9-]{0,15}$' })

export const configSchema = serviceConfig({
  /** The API replicas' guard refresh (set alike on every service): the publish delay is checked against it. */
  BATCH_GUARD_REFRESH_MS: batchGuardConfigProperties.BATCH_GUARD_REFRESH_MS,
  /** The strategy of the runs this worker creates; one it has (the service's own: bulk). */
  BATCH_STRATEGY: Type.String({ ...strategyNameSchema, default: 'bulk' }),
  /** Targets per chunk; fixed in the run's plan, so changing it affects new runs only. */
  BATCH_CHUNK_SIZE: Type.Integer({ minimum: 1, maximum: 100_000, default: 1_000 }),
  /** Users per planning statement: the plan is several short statements the pace can rest between. */
  BATCH_PLAN_SLICE_USERS: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 1_000 }),
  /** Chunks one worker processes at once; each holds one batch connection. */
  BATCH_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 32, default: 2 }),
  BATCH_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 64, default: 4 }),
  BATCH_LEASE_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 }),
  BATCH_PLAN_LEASE_MS: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 120_000 }),
  /** Wait after publishing a run before touching users: ≥ 2 × BATCH_GUARD_REFRESH_MS (checked at load), so every API replica's guard has refreshed since. */
  BATCH_PUBLISH_DELAY_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 500 }),
  BATCH_POLL_MS: Type.Integer({ minimum: 5, maximum: 60_000, default: 200 }),
  /** The batch paces itself by the live APIs' latency (job/pacing.ts); false: every lane flat out. */
  BATCH_PACING: Type.Boolean({ default: true }),
  /** The API latency budget: the live API replicas' p99 (their requests together) above it makes the batch back off. */
  BATCH_PACING_P99_MS: Type.Integer({ minimum: 1, maximum: 60_000, default: 100 }),
  /** Also over budget above this multiple of the APIs' p99 when the run's planning began (0: the absolute budget only). */
  BATCH_PACING_P99_RATIO: Type.Number({ minimum: 0, maximum: 100, default: 1.5 }),
  /** The database's Threads_running above which the batch backs off too; 0: not a signal. */
  BATCH_PACING_MAX_THREADS_RUNNING: Type.Integer({ minimum: 0, maximum: 10_000, default: 0 }),
  /** The least the batch keeps doing over budget: this share of one lane (it never stalls). */
  BATCH_PACING_FLOOR: Type.Number({ minimum: 0.01, maximum: 1, default: 0.1 }),
  /** How often, at most, a worker reads the signals and decides. */
  BATCH_PACING_DECIDE_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 250 }),
  /** From the run's publish: when the rest of the run would finish later at the current pace, the batch goes full speed. */
  BATCH_RUN_DEADLINE_MS: Type.Integer({ minimum: 1_000, maximum: 7 * 24 * 3_600_000, default: 2 * 3_600_000 }),
  /** The daemon starts the monthly run on this day of the month at this time (business time zone). */
  BATCH_SCHEDULE_ENABLED: Type.Boolean({ default: true }),
  BATCH_SCHEDULE_DAY: Type.Integer({ minimum: 1, maximum: 28, default: 1 }),
  BATCH_SCHEDULE_TIME: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', default: '00:00' }),
  /** A daemon that was down at the fire time still starts the run if it is back within this. */
  BATCH_MISFIRE_GRACE_MS: Type.Integer({ minimum: 0, default: 24 * 3_600_000 }),
  /** How often the daemon looks for a due, requested or running run. */
  BATCH_DAEMON_POLL_MS: Type.Integer({ minimum: 10, maximum: 600_000, default: 5_000 }),
  /** Periods are calendar months of this IANA time zone. */
  BUSINESS_TIME_ZONE: Type.String({ default: defaultBusinessTimeZone }),
  /** The daily first-come-first-served event (DESIGN §5): created ahead of time by the daemon. */
  EVENT_SCHEDULE_ENABLED: Type.Boolean({ default: true }),
  EVENT_DAILY_TIME: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', default: '13:00' }),
  EVENT_DAILY_MINUTES: Type.Integer({ minimum: 1, maximum: 1_439, default: 10 }),
  EVENT_DAILY_QUOTA: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 100 }),
  /** How often the daemon creates upcoming events and draws the ones whose announcement is due. */
  EVENT_POLL_MS: Type.Integer({ minimum: 10, maximum: 600_000, default: 5_000 }),
  GRADE_VIP_MIN: Type.Integer({ minimum: 1, default: thresholds.VIP }),
  GRADE_GOLD_MIN: Type.Integer({ minimum: 1, default: thresholds.GOLD }),
  GRADE_SILVER_MIN: Type.Integer({ minimum: 1, default: thresholds.SILVER }),
  ...consoleConfigProperties,
})
export type Config = Static<typeof configSchema>

export function loadServiceConfig(env: Record<string, string | undefined> = process.env): Config {
  const config = loadConfig(configSchema, env)
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: config.BUSINESS_TIME_ZONE })
  } catch {
    throw new Error(`invalid configuration: BUSINESS_TIME_ZONE: unknown time zone "${config.BUSINESS_TIME_ZONE}"`)
  }
  // The API replicas refresh their guard views at BATCH_GUARD_REFRESH_MS (set alike on every service).
  if (config.BATCH_PUBLISH_DELAY_MS < 2 * config.BATCH_GUARD_REFRESH_MS) {
    throw new Error(
      `invalid configuration: BATCH_PUBLISH_DELAY_MS (${config.BATCH_PUBLISH_DELAY_MS}) must be ≥ 2 × BATCH_GUARD_REFRESH_MS (${2 * config.BATCH_GUARD_REFRESH_MS}): an API replica may not have seen a run before its chunks start`,
    )
  }
  if (!(config.GRADE_VIP_MIN > config.GRADE_GOLD_MIN && config.GRADE_GOLD_MIN > config.GRADE_SILVER_MIN)) {
    throw new Error('invalid configuration: GRADE_VIP_MIN > GRADE_GOLD_MIN > GRADE_SILVER_MIN must hold')
  }
  return config
}

export function gradePolicy(config: Config): GradePolicy {
  return { ...defaultGradePolicy, thresholds: { VIP: config.GRADE_VIP_MIN, GOLD: config.GRADE_GOLD_MIN, SILVER: config.GRADE_SILVER_MIN } }
}

/**
 * The batch pool. A chunk's transaction left idle for as long as the lease belongs to a worker
 * that froze or lost its connection: its lease has run out (renewal follows the chunk's own
 * statements) and another worker may be waiting for its row locks. So the server rolls such a
 * transaction back after the lease, not after the batch role's generic 20 s (DESIGN §6.2).
 */
export function batchPoolSettings(config: Config): PoolSettings {
  return {
    url: config.DATABASE_URL,
    role: 'batch',
    connectionLimit: config.BATCH_POOL_SIZE,
    idleTransactionTimeoutSec: Math.max(1, Math.ceil(config.BATCH_LEASE_MS / 1_000)),
  }
}

export function workerSettings(config: Config): WorkerSettings {
  return {
    chunkSize: config.BATCH_CHUNK_SIZE,
    planSliceUsers: config.BATCH_PLAN_SLICE_USERS,
    concurrency: config.BATCH_CONCURRENCY,
    leaseMs: config.BATCH_LEASE_MS,
    planLeaseMs: config.BATCH_PLAN_LEASE_MS,
    publishDelayMs: config.BATCH_PUBLISH_DELAY_MS,
    pollMs: config.BATCH_POLL_MS,
    policy: gradePolicy(config),
    timeZone: config.BUSINESS_TIME_ZONE,
    pacing: {
      enabled: config.BATCH_PACING,
      p99BudgetMs: config.BATCH_PACING_P99_MS,
      p99Ratio: config.BATCH_PACING_P99_RATIO,
      maxThreadsRunning: config.BATCH_PACING_MAX_THREADS_RUNNING,
      floor: config.BATCH_PACING_FLOOR,
      deadlineMs: config.BATCH_RUN_DEADLINE_MS,
      decideMs: config.BATCH_PACING_DECIDE_MS,
      // A back-off shows in the reports once the APIs' window has rolled over and a report carried it
      // (the APIs are assumed to share the cluster's LOAD_* settings).
      holdMs: config.LOAD_WINDOW_MS + config.LOAD_REPORT_MS,
      // Two lost reports are forgiven; a replica that stopped reporting stops counting after the third.
      reportsFreshForMs: 3 * config.LOAD_REPORT_MS,
    },
  }
}
