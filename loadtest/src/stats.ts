/** Latency summary of a list of samples (ms). */
export interface LatencySummary {
  count: number
  mean: number
  p50: number
  p90: number
  p99: number
  max: number
}

export function summarize(samples: number[]): LatencySummary {
  const sorted = Float64Array.from(samples).sort()
  const at = (q: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!)
  const sum = sorted.reduce((a, b) => a + b, 0)
  return { count: sorted.length, mean: sorted.length ? sum / sorted.length : NaN, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted.length ? sorted[sorted.length - 1]! : NaN }
}
