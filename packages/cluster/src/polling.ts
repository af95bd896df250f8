import { setTimeout as sleep } from 'node:timers/promises'

export interface PollingLoopOptions {
  /** The pause after each tick; as a function of the tick's duration it lets a slow source be asked less often. */
  intervalMs: number | ((tickMs: number) => number)
  tick: (signal: AbortSignal) => Promise<unknown>
  onError: (error: unknown) => void
  /** 'after-interval': the first tick waits one pause (for loops whose first run is not urgent). */
  firstTick?: 'at-start' | 'after-interval'
}

export interface PollingLoop {
  /** Aborted once stop() is called: long ticks wind down early. */
  readonly signal: AbortSignal
  start(): Promise<void>
  stop(): Promise<void>
}

/**
 * A replica's background loop (heartbeat, refresh, sweep, daemon poll): runs `tick`, pauses, runs
 * it again until stopped. A failing tick is reported and tried again after the pause. `start()`
 * resolves once the first tick is done (at once for 'after-interval'), `stop()` once the tick in
 * progress is, so a loop stopped in preClose never outlives the pool it uses; `signal` tells long
 * ticks to wind down early. Its timers never keep a process alive on their own.
 */
export function createPollingLoop({ intervalMs, tick, onError, firstTick = 'at-start' }: PollingLoopOptions): PollingLoop {
  const stopping = new AbortController()
  const pause = typeof intervalMs === 'number' ? () => intervalMs : intervalMs
  let loop: Promise<void> | undefined
  let started: Promise<void> | undefined

  const wait = (ms: number) => sleep(ms, undefined, { signal: stopping.signal, ref: false }).catch(() => undefined)
  async function timedTick(): Promise<number> {
    const began = performance.now()
    await tick(stopping.signal).catch(onError)
    return performance.now() - began
  }

  return {
    signal: stopping.signal,
    start(): Promise<void> {
      if (!started) {
        const opening = firstTick === 'at-start' ? timedTick() : Promise.resolve(0)
        loop = opening.then(async (tickMs) => {
          await wait(pause(tickMs))
          while (!stopping.signal.aborted) await wait(pause(await timedTick()))
        })
        started = opening.then(() => undefined)
      }
      return started
    },
    async stop(): Promise<void> {
      stopping.abort()
      await loop
    },
  }
}
