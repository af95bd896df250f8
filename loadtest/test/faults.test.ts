import t from 'tap'
import { join } from 'node:path'
import { mariaDbServer } from '@commerce/local/mariadb'
import { localDir } from '@commerce/local/paths'
import type { FaultContext } from '../src/faults/cases.ts'
import { faultCases, testFaultPlan } from '../src/scenarios/faults.ts'

// Issue 8's fault suite, short: each case once on small data, through the real stack (nginx, 2
// replicas per service, 2 batch-worker daemons) on a MariaDB server of its own, which case 2
// stops and starts (port and folder apart from the bench's and the shared dev server).
// `npm run bench -- faults` runs the same cases at full length. This workspace's test files run
// one at a time (tap jobs: 1): this suite and the demo's each drive a whole stack on 2 cores.

t.setTimeout(25 * 60_000)

const server = mariaDbServer({ dir: join(localDir, 'mariadb-faults-test'), port: 3398, bufferPoolSize: '256M', logFileSize: '64M' })
t.before(() => server.start())
t.teardown(() => server.stop())

const context = (users: number): FaultContext => ({
  server,
  users,
  orders: users * 10,
  portBase: 5_500,
  httpPort: 8_096,
  dir: join(localDir, 'faults-test'),
  // Writes in flight at every injection, at half the CPU of the 100 req/s this once ran at.
  rate: 50,
  seed: 8,
  log: (line) => t.comment(line),
})

const plan = testFaultPlan
// Per case id: 3 kinds killed per round; 8 replicas (2 per service) per rolling pass.
const planned: Record<number, number> = {
  1: 3 * plan.killRounds,
  2: 1,
  3: plan.freezes,
  4: plan.partitions,
  5: plan.lockHolds,
  6: 8 * plan.rollingPasses,
  7: 1,
  8: 1,
  9: 1,
  10: 1,
}

for (const [label, run] of faultCases(plan, context)) {
  t.test(label, async (t) => {
    const result = await run()
    if (result.blocked) {
      t.fail(`blocked: ${result.blocked}`)
      return
    }
    t.equal(result.injections, planned[result.id], 'every planned injection happened')
    for (const held of result.held) t.ok(held.ok, `${held.what} (${held.detail})`)
    t.ok(result.audit.ok, `audit:\n${result.audit.text}`)
  })
}
