import { parseArgs } from 'node:util'
import { databaseUrl } from '@commerce/db'
import { ensureDatabaseServer } from '@commerce/local/database'
import { fail } from '@commerce/local/cli/fail'
import { benchBatch } from './scenarios/batch.ts'
import { benchLiveDuringBatch } from './scenarios/live.ts'

// `npm run bench -- <scenario> [flags]`: writes reports/<timestamp>-<scenario>/.
const scenarios = ['batch', 'live-during-batch'] as const

function parseFlags() {
  try {
    const { values, positionals } = parseArgs({
      allowPositionals: true,
      options: {
        users: { type: 'string', default: '30000' },
        orders: { type: 'string', default: '1000000' },
        'naive-users': { type: 'string' },
        'naive-orders': { type: 'string' },
        repetitions: { type: 'string', default: '3' },
        workers: { type: 'string', default: '1,2' },
        connections: { type: 'string', default: '500' },
        loops: { type: 'string', default: '10' },
        rate: { type: 'string', default: '0' },
      },
      strict: true,
    })
    const scenario = positionals[0]
    if (!scenario || !(scenarios as readonly string[]).includes(scenario)) throw new Error(`name a scenario: npm run bench -- <${scenarios.join('|')}>`)
    const int = (name: string, value: string, min: number) => {
      const n = Number(value)
      if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`)
      return n
    }
    return {
      scenario,
      users: int('users', values.users, 1),
      orders: int('orders', values.orders, 0),
      // naive defaults to the full data; a smaller scale can be asked for (and is stated).
      naiveUsers: int('naive-users', values['naive-users'] ?? values.users, 1),
      naiveOrders: int('naive-orders', values['naive-orders'] ?? values.orders, 0),
      repetitions: int('repetitions', values.repetitions, 1),
      workers: values.workers.split(',').map((w) => int('workers', w, 1)),
      connections: int('connections', values.connections, 1),
      loops: int('loops', values.loops, 1),
      rate: int('rate', values.rate, 0),
    }
  } catch (error) {
    fail(error)
  }
}

const flags = parseFlags()
try {
  await ensureDatabaseServer()
  const common = { ...flags, baseUrl: databaseUrl(), log: (line: string) => console.log(line) }
  const dir = flags.scenario === 'batch' ? await benchBatch(common) : await benchLiveDuringBatch(common)
  console.log(`report: ${dir}`)
  process.exit(0)
} catch (error) {
  fail(error)
}
