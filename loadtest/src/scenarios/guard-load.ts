import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { storeTargetSet } from '@commerce/cluster'
import { createPool, dropDatabase, migrateDatabase, withDatabase, type ResultSetHeader } from '@commerce/db'
import { repoRoot } from '@commerce/local/paths'
import { machineInfo, markdownTable, median, writeReport } from '../report.ts'

const run = promisify(execFile)
const chunkSize = 1_000
/** The users the probe looks up (loadtest/src/probes/guard-load.ts). */
export const probedUsers = [2, 4, 2_000, 2_002, 3]

export interface GuardLoadBenchOptions {
  baseUrl: string
  /** Target counts; each plan targets every other user of twice as many (every even id). */
  targets: number[]
  repetitions: number
  log: (line: string) => void
}

/** The line loadtest/src/probes/guard-load.ts prints: one guard load in a fresh process. */
export interface GuardProbe {
  mode: 'set' | 'stored' | 'map'
  ms: number
  /** Heap and buffers still held after a GC (noise of a few KiB at small sets). */
  retainedBytes: number
  /** The compact target set's own bytes (null for the map). */
  setBytes: number | null
  /** Targets in the stored set (`stored` only). */
  targets: number | null
  probe: (number | null)[]
}

/**
 * A synthetic RUNNING plan (no orders needed: the guard reads only the plan), written the way the
 * planner writes it: batch_targets rows and the compact target set.
 */
async function syntheticPlan(url: string, targets: number): Promise<number> {
  const pool = createPool({ url, role: 'tool', connectionLimit: 1 })
  try {
    const [run] = await pool.query<ResultSetHeader>(
      "INSERT INTO batch_runs (job, period, status, strategy, chunk_size, chunk_count, target_count, planned_at, published_at) VALUES ('monthly-grade', '2099-01', 'RUNNING', 'bulk', ?, CEIL(? / ?), ?, NOW(6), NOW(6))",
      [chunkSize, targets, chunkSize, targets],
    )
    // MariaDB's sequence engine: seq_1_to_N is a table of 1..N.
    await pool.query(
      `INSERT INTO batch_targets (run_id, user_id, chunk_no, total, order_count, to_grade)
       SELECT ?, seq * 2, FLOOR((seq - 1) / ?), 0, 0, 'BRONZE' FROM seq_1_to_${Number(targets)}`,
      [run.insertId, chunkSize],
    )
    await storeTargetSet(
      pool,
      run.insertId,
      Float64Array.from({ length: targets }, (_, i) => 2 * (i + 1)),
    )
    return run.insertId
  } finally {
    await pool.end()
  }
}

/** One guard load of run `runId` in a fresh process (`--expose-gc`, so its heap is measured alone). */
export async function probeGuard(url: string, mode: GuardProbe['mode'], runId: number): Promise<GuardProbe> {
  const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', 'loadtest/src/probes/guard-load.ts', url, mode, String(runId)], {
    cwd: repoRoot,
    maxBuffer: 1 << 20,
  })
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as GuardProbe
}

/**
 * `npm run bench -- guard-load`: one API replica's guard loading a RUNNING run's targets, the
 * compact set against the per-row map it replaced, each in a fresh process, interleaved.
 */
export async function benchGuardLoad({ baseUrl, targets: sizes, repetitions, log }: GuardLoadBenchOptions): Promise<string> {
  const rows: Record<string, string | number>[] = []
  const measured: { targets: number; users: number; set: GuardProbe[]; map: GuardProbe[] }[] = []
  let machine: Awaited<ReturnType<typeof machineInfo>> | undefined
  for (const targets of sizes) {
    const url = withDatabase(baseUrl, `bench_guard_${targets}`)
    await dropDatabase(url).catch(() => undefined)
    await migrateDatabase(url)
    const planStarted = performance.now()
    const runId = await syntheticPlan(url, targets)
    log(
      `guard-load: ${targets.toLocaleString('en')} targets of ${(2 * targets).toLocaleString('en')} users planned in ${((performance.now() - planStarted) / 1000).toFixed(1)} s`,
    )
    const result = { targets, users: 2 * targets, set: [] as GuardProbe[], map: [] as GuardProbe[] }
    for (let i = 0; i < repetitions; i++) {
      for (const mode of ['set', 'map'] as const) {
        const probed = await probeGuard(url, mode, runId)
        // Every even id up to 2 × targets is a target, 1,000 per chunk; odd ids are not.
        const expected = probedUsers.map((id) => (id % 2 === 0 && id <= 2 * targets ? Math.floor((id / 2 - 1) / chunkSize) : null))
        if (JSON.stringify(probed.probe) !== JSON.stringify(expected))
          throw new Error(`${mode}: lookups ${JSON.stringify(probed.probe)}, expected ${JSON.stringify(expected)}`)
        result[mode].push(probed)
        log(`  ${mode}: ${probed.ms.toFixed(0)} ms, ${(probed.retainedBytes / 2 ** 20).toFixed(1)} MiB retained`)
      }
    }
    measured.push(result)
    const pool = createPool({ url, role: 'tool', connectionLimit: 1 })
    machine ??= await machineInfo(pool)
    await pool.end()
    await dropDatabase(url)
    const ms = (probes: GuardProbe[]) => median(probes.map((p) => p.ms))
    const mib = (probes: GuardProbe[]) => median(probes.map((p) => p.retainedBytes)) / 2 ** 20
    rows.push({
      targets: targets.toLocaleString('en'),
      users: (2 * targets).toLocaleString('en'),
      'set: load ms': ms(result.set).toFixed(0),
      'set: MiB': mib(result.set).toFixed(2),
      'map (before): load ms': ms(result.map).toFixed(0),
      'map (before): MiB': mib(result.map).toFixed(1),
      'load ratio': (ms(result.map) / ms(result.set)).toFixed(1),
      'memory ratio': (mib(result.map) / mib(result.set)).toFixed(0),
    })
  }
  const markdown = [
    '# Guard load: compact target set vs per-row map',
    '',
    `Machine: ${machine?.cpus} CPUs (${machine?.cpuModel}), ${machine?.database}, ${machine?.date}.`,
    `A synthetic RUNNING plan (every even user id a target, ${chunkSize.toLocaleString('en')} per chunk), read by one guard in a fresh Node process;`,
    `medians of ${repetitions} interleaved loads. "MiB" is the heap and buffers still held after a GC.`,
    '',
    markdownTable(rows),
  ].join('\n')
  const dir = writeReport('guard-load', { machine, chunkSize, repetitions, measured, table: rows }, markdown)
  log(markdown)
  return dir
}
