import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

/** Clock ticks per second of /proc/<pid>/stat's times (100 on Linux; asked once). */
const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100

/** What processes used between two snapshots: CPU (user + system), read/write-class syscalls, and time they waited for a CPU. */
export interface ProcessUsage {
  cpuMicros: number
  syscalls: number
  /**
   * Time their threads were runnable but not running (the second field of each thread's
   * /proc/<pid>/task/<tid>/schedstat): what sharing the cores with the other processes costs them.
   * A thread that ended before the second snapshot is missing from it (MariaDB's come and go with
   * connections): the figure is a floor.
   */
  runQueueMicros: number
}

/** What processes have used so far; the run-queue wait per thread, so a thread that ends takes only its own share away. */
export interface UsageSnapshot {
  cpuMicros: number
  syscalls: number
  runQueueByThread: Readonly<Record<string, number>>
}

const none: UsageSnapshot = { cpuMicros: 0, syscalls: 0, runQueueByThread: {} }

/** /proc/<pid>/stat fields after the command (which may hold spaces), 0-based from field 3. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/** The usage of `pid` so far; zero for a process that is gone (its share is then lost, and the caller sees a drop). */
export function processUsage(pid: number): UsageSnapshot {
  const fields = statFields(pid)
  if (!fields) return none
  // utime and stime are fields 14 and 15 of stat (1-based), 11 and 12 here.
  const cpuMicros = ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / ticksPerSecond
  let syscalls = 0
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8')
    syscalls = Number(/syscr: (\d+)/.exec(io)?.[1] ?? 0) + Number(/syscw: (\d+)/.exec(io)?.[1] ?? 0)
  } catch {
    // /proc/<pid>/io needs the same user or root; without it, syscalls read 0.
  }
  return { cpuMicros, syscalls, runQueueByThread: runQueueByThread(pid) }
}

function runQueueByThread(pid: number): Record<string, number> {
  const waits: Record<string, number> = {}
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        waits[`${pid}/${tid}`] = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[1] ?? 0) / 1000
      } catch {
        // the thread ended between the listing and the read
      }
    }
  } catch {
    // the process is gone
  }
  return waits
}

/** The sum over a group of processes (a service's replicas, nginx's master and workers). */
export function groupUsage(pids: readonly number[]): UsageSnapshot {
  return pids.map(processUsage).reduce(
    (sum, usage) => ({
      cpuMicros: sum.cpuMicros + usage.cpuMicros,
      syscalls: sum.syscalls + usage.syscalls,
      runQueueByThread: { ...sum.runQueueByThread, ...usage.runQueueByThread },
    }),
    none,
  )
}

/** Direct children of `pid` (nginx's workers under its master). */
export function childPids(pid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((candidate) => Number(statFields(candidate)?.[1]) === pid)
}

export const usageBetween = (before: UsageSnapshot, after: UsageSnapshot): ProcessUsage => ({
  cpuMicros: after.cpuMicros - before.cpuMicros,
  syscalls: after.syscalls - before.syscalls,
  // Per thread: one that started meanwhile counts whole, one that ended is missing from both sides.
  runQueueMicros: Object.entries(after.runQueueByThread).reduce((sum, [thread, micros]) => sum + micros - (before.runQueueByThread[thread] ?? 0), 0),
})
