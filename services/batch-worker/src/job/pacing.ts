import { setTimeout as sleep } from 'node:timers/promises'

export interface PacingSettings {
  enabled: boolean
  /** The API latency the batch yields to: over budget when the live API replicas' p99 (all their requests together) is over it. */
  p99BudgetMs: number
  /**
   * Over budget too when that p99 is over this multiple of the p99 they had when the run's planning
   * began (the batch may cost the APIs this much of their tail, at any rate); 0: absolute budget only.
   */
  p99Ratio: number
  /** Over budget too while the database runs more threads than this (0: not a signal). */
  maxThreadsRunning: number
  /** The least the batch keeps doing however far over budget: a share of one lane at full speed. */
  floor: number
  /** From the run's publish (database clock): once the rest would not fit at the current pace, full speed. */
  deadlineMs: number
  /** How often, at most, a worker reads the signals and decides. */
  decideMs: number
  /**
   * How long a back-off takes to show in the signals (the reported window plus a heartbeat):
   * no second halving within it, so one slow window is not answered several times.
   */
  holdMs: number
}

/** What the controller reads at a decision. */
export interface PacingSignals {
  /** The p99 of the live API replicas' recent requests, merged; null: too few requests to tell. */
  apiP99Ms: number | null
  /** The same when the run's planning began (null: too few requests then). */
  baselineP99Ms: number | null
  threadsRunning: number
  /** Chunks not DONE yet, and how long ago the run was published (database clock). */
  openChunks: number
  runElapsedMs: number
}

export const pacingReasons = ['off', 'ramping', 'full', 'backoff', 'hold', 'floor', 'deadline'] as const
export type PacingReason = (typeof pacingReasons)[number]
export const isPacingReason = (value: string): value is PacingReason => (pacingReasons as readonly string[]).includes(value)

export interface PacingState {
  /** Lanes' worth of work: ≥ 1 is that many lanes at full speed, below 1 one lane that rests between chunks. */
  level: number
  reason: PacingReason
  /** The signal behind the reason, in words (e.g. "api p99 240 ms > 100 ms"). */
  detail: string
  apiP99Ms: number | null
  threadsRunning: number | null
}

/** Under budget, the level climbs only while the p99 is below this share of the budget (it holds between). */
const climbBelow = 0.8

/**
 * AIMD on the batch's level, the rule TCP uses for a shared link, with the hold (how long a change
 * takes to show in the reports) as its round trip. A run starts at the floor, not flat out: a batch
 * that bursts until the first reports show it costs the APIs their tail before anything can react.
 * Well under budget (below 80 % of it) it doubles per hold (slow start) until the first time it is
 * over budget; from then on it adds one floor per hold, creeping back towards the level that was
 * too much instead of overshooting it within one round trip; between 80 % and the budget it holds.
 * Over budget it halves (at most once per hold, down to the floor). With no live traffic to yield
 * to (too few requests reported) it goes flat out at once. Once the rest of the run would miss its
 * deadline at the pace of the chunks done so far, the deadline wins for the rest of the run.
 */
export function createPacingController(settings: PacingSettings, maxLevel: number) {
  const floor = Math.min(settings.floor, maxLevel)
  let state: PacingState = settings.enabled
    ? { level: floor, reason: 'ramping', detail: 'starting at the floor', apiP99Ms: null, threadsRunning: null }
    : { level: maxLevel, reason: 'off', detail: 'pacing is off', apiP99Ms: null, threadsRunning: null }
  let lastDecisionAt: number | undefined
  let lastBackoffAt = Number.NEGATIVE_INFINITY
  let slowStart = true
  let firstSeen: { at: number; open: number } | undefined
  const set = (next: PacingState): PacingState => {
    state = next
    return next
  }

  /** The absolute budget, or the relative one when it is tighter. */
  const budgetFor = (baselineP99Ms: number | null): number =>
    settings.p99Ratio > 0 && baselineP99Ms !== null ? Math.min(settings.p99BudgetMs, settings.p99Ratio * baselineP99Ms) : settings.p99BudgetMs

  function missesDeadline(signals: PacingSignals, nowMs: number): boolean {
    if (signals.runElapsedMs >= settings.deadlineMs) return signals.openChunks > 0
    firstSeen ??= { at: nowMs, open: signals.openChunks }
    const done = firstSeen.open - signals.openChunks
    const seconds = (nowMs - firstSeen.at) / 1000
    // Too early to tell a pace: a few chunks, a few seconds.
    if (done < 2 || seconds < 2) return false
    return signals.runElapsedMs + (signals.openChunks / (done / seconds)) * 1000 > settings.deadlineMs
  }

  return {
    state: (): PacingState => ({ ...state }),
    decide(signals: PacingSignals, nowMs: number): PacingState {
      const elapsedMs = lastDecisionAt === undefined ? 0 : nowMs - lastDecisionAt
      lastDecisionAt = nowMs
      const seen = { apiP99Ms: signals.apiP99Ms, threadsRunning: signals.threadsRunning }
      if (!settings.enabled) return set({ ...state, ...seen })
      if (state.reason === 'deadline' || missesDeadline(signals, nowMs)) {
        return set({ level: maxLevel, reason: 'deadline', detail: `the run's deadline (${settings.deadlineMs} ms) is at risk: full speed`, ...seen })
      }
      const budgetMs = budgetFor(signals.baselineP99Ms)
      const over: string[] = []
      if (signals.apiP99Ms !== null && signals.apiP99Ms > budgetMs) over.push(`api p99 ${Math.round(signals.apiP99Ms)} ms > ${Math.round(budgetMs)} ms`)
      if (settings.maxThreadsRunning > 0 && signals.threadsRunning > settings.maxThreadsRunning)
        over.push(`threads running ${signals.threadsRunning} > ${settings.maxThreadsRunning}`)
      if (over.length > 0) {
        const detail = over.join(', ')
        if (nowMs - lastBackoffAt < settings.holdMs) return set({ ...state, reason: state.level <= floor ? 'floor' : 'hold', detail, ...seen })
        lastBackoffAt = nowMs
        slowStart = false
        const level = Math.max(floor, state.level / 2)
        // 'backoff' for every decision that lowered the level (the metrics count those), 'floor' when there was nothing left to halve.
        return set({ level, reason: level < state.level ? 'backoff' : 'floor', detail, ...seen })
      }
      if (signals.apiP99Ms === null) return set({ level: maxLevel, reason: 'full', detail: 'too few API requests to yield to', ...seen })
      // A dead band below the budget: every climb into it would be a probe past the budget a hold
      // later, and the APIs' tail over the run is made of those probes.
      if (signals.apiP99Ms > climbBelow * budgetMs) {
        const near = `api p99 ${Math.round(signals.apiP99Ms)} ms near the budget of ${Math.round(budgetMs)} ms`
        return set({ ...state, reason: state.level >= maxLevel ? 'full' : state.level <= floor ? 'floor' : 'hold', detail: near, ...seen })
      }
      const holds = elapsedMs / settings.holdMs
      const level = Math.min(maxLevel, slowStart ? state.level * 2 ** holds : state.level + floor * holds)
      const under = `api p99 ${Math.round(signals.apiP99Ms)} ms < ${Math.round(climbBelow * budgetMs)} ms (80 % of the budget)`
      return set({ level, reason: level >= maxLevel ? 'full' : 'ramping', detail: under, ...seen })
    },
  }
}

export type PacingController = ReturnType<typeof createPacingController>

/**
 * The controller applied to a worker's lanes: a lane beyond the level waits, and below one lane
 * the one lane rests after each chunk so that it works `level` of the time. Decisions are taken
 * at chunk boundaries, at most every `decideMs`, one at a time; a failed read keeps the last level.
 */
export function createPacer({
  settings,
  lanes,
  readSignals,
  onDecision,
  now = () => performance.now(),
}: {
  settings: PacingSettings
  lanes: number
  readSignals: () => Promise<PacingSignals>
  /** Awaited: a decision's side effects (its report) end before the next decision starts. */
  onDecision?: (state: PacingState) => Promise<void> | void
  now?: () => number
}) {
  const controller = createPacingController(settings, lanes)
  let decidedAt = Number.NEGATIVE_INFINITY
  let deciding: Promise<void> | undefined
  let restedMs = 0

  function maybeDecide(): Promise<void> {
    if (!settings.enabled || now() - decidedAt < settings.decideMs) return Promise.resolve()
    deciding ??= readSignals()
      .then(async (signals) => {
        const state = controller.decide(signals, now())
        await onDecision?.(state)
      })
      .catch(() => undefined)
      .finally(() => {
        decidedAt = now()
        deciding = undefined
      })
    return deciding
  }

  const activeLanes = () => Math.max(1, Math.floor(controller.state().level))

  return {
    state: controller.state,
    /** Total time lanes spent waiting or resting for the pace. */
    restedMs: () => Math.round(restedMs),
    /** Before a chunk: true when lane `index` may take one now; false after a pause (ask again). */
    async admit(index: number): Promise<boolean> {
      await maybeDecide()
      if (index < activeLanes()) return true
      await sleep(settings.decideMs)
      restedMs += settings.decideMs
      return false
    },
    /**
     * After a chunk (or a plan statement) that took `chunkMs`: below one lane, rest so that the
     * lane works `level` of the time, for at most `maxMs`.
     */
    async rest(chunkMs: number, signal?: AbortSignal, maxMs = Number.POSITIVE_INFINITY): Promise<void> {
      await maybeDecide()
      const started = now()
      // Re-decided while resting: a recovery shortens the rest, a worse signal lengthens it.
      while (!signal?.aborted) {
        const { level } = controller.state()
        const restMs = level >= 1 ? 0 : Math.min(maxMs, (chunkMs * (1 - level)) / level)
        const left = restMs - (now() - started)
        if (left <= 0) break
        await sleep(Math.min(left, settings.decideMs))
        await maybeDecide()
      }
      restedMs += now() - started
    },
  }
}

export type Pacer = ReturnType<typeof createPacer>
