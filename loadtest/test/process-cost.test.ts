import t from 'tap'
import { groupUsage, usageBetween, type UsageSnapshot } from '../src/process-cost.ts'

t.test('run-queue wait is counted per thread: a thread that ended takes only its own share away', async (t) => {
  const before: UsageSnapshot = { cpuMicros: 100, syscalls: 10, runQueueByThread: { '1/1': 50, '1/2': 900, '2/7': 10 } }
  // Thread 1/2 (900 µs waited) ended; 1/3 started and waited 40 µs; the others waited 5 and 20 µs more.
  const after: UsageSnapshot = { cpuMicros: 160, syscalls: 14, runQueueByThread: { '1/1': 55, '1/3': 40, '2/7': 30 } }
  t.same(usageBetween(before, after), { cpuMicros: 60, syscalls: 4, runQueueMicros: 65 })
})

t.test('this process: CPU and run-queue wait never go backwards between two snapshots', async (t) => {
  const first = groupUsage([process.pid])
  t.ok(`${process.pid}/${process.pid}` in first.runQueueByThread, 'the main thread is listed')
  const until = performance.now() + 50
  while (performance.now() < until) {
    // busy, so some CPU is used
  }
  const used = usageBetween(first, groupUsage([process.pid]))
  t.ok(used.cpuMicros >= 0 && used.runQueueMicros >= 0, `CPU ${used.cpuMicros} µs, run-queue wait ${used.runQueueMicros} µs`)
})
