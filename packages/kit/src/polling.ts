import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Runs `tick` every `intervalMs` until stopped: a daemon's background loop. A failing tick is
 * reported and tried again next interval; `stop()` resolves once the tick in progress is done,
 * and `signal` tells long ticks to wind down early.
 */
export function createPollingLoop({
  intervalMs,
  tick,
  onError,
}: {
  intervalMs: number
  tick: (signal: AbortSignal) => Promise<void>
  onError: (error: unknown) => void
}) {
  const stopping = new AbortController()
  let loop: Promise<void> | undefined
  return {
    signal: stopping.signal,
    start(): void {
      loop ??= (async () => {
        while (!stopping.signal.aborted) {
          await tick(stopping.signal).catch(onError)
          await sleep(intervalMs, undefined, { signal: stopping.signal }).catch(() => undefined)
        }
      })()
    },
    async stop(): Promise<void> {
      stopping.abort()
      await loop
    },
  }
}
