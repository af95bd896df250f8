import { parseArgs } from 'node:util'
import { databaseUrl } from '@commerce/db'
import { ensureDatabaseServer } from '@commerce/local/database'
import { stopLocalDb } from '@commerce/local/mariadb'
import { fail } from '@commerce/local/cli/fail'
import { answerHelp } from '@commerce/local/cli/help'
import { checkoutTree } from './against.ts'
import { benchBatch } from './scenarios/batch.ts'
import { benchEvent } from './scenarios/event.ts'
import { benchLiveDuringBatch, liveVariants, loadModels, type LiveVariant, type LoadModel } from './scenarios/live.ts'
import { benchConsistency } from './scenarios/consistency.ts'
import { benchRestart } from './scenarios/restart.ts'
import { benchFaults } from './scenarios/faults.ts'
import { benchRequestCost, requestCostRoutes, type Route } from './scenarios/request-cost.ts'
import { benchGuardLoad } from './scenarios/guard-load.ts'
import { benchMembers } from './scenarios/members.ts'
import { benchScale } from './scenarios/scale.ts'

// `npm run bench -- <scenario> [flags]`: writes reports/<timestamp>-<scenario>/.
const scenarios = ['batch', 'live-during-batch', 'consistency', 'restart', 'event', 'faults', 'request-cost', 'guard-load', 'members', 'scale'] as const

answerHelp(`
usage: npm run bench -- <scenario> [flags]        writes reports/<time>-<scenario>/
scenarios:
  batch               every strategy at 1 and 2 workers, the SQL floor, audited    [--repetitions 3 --workers 1,2 --strategies … --against <ref> --naive-users --naive-orders]
  live-during-batch   the live API mix while the batch runs, paced and unpaced       [--connections 500 --loops 10 --rate 250,500,… --model closed,open --variants paced,unpaced(,unguarded)]
  consistency         parallel redemptions of one coupon per user during the batch   [--connections 500 --loops 10]
  restart             a daemon killed mid-run and one joining, under live traffic    [--rate 500]
  event               the first-come event: flood, burst, saturation steps           [--rate 1666 --duration 600 --burst 20000 --steps … --step-duration 10 --strategies … --against <ref> --galera]
  faults              the fault suite on its own MariaDB                             [--rate 200]
  request-cost        CPU, syscalls and latency per request of each hot route        [--rate 250,1000,3000 --duration 10 --routes profile,…,live-mix --saturate --against <ref>]
  guard-load          an API guard loading a run's targets: compact set vs row map   [--targets 150000,1500000 --repetitions 3]
  members             hundreds of simulated members beside the stack during a run     [--members 100,300,1000 --processes 4 --duration 20]
  scale               seed, run, guard, reads and audit at 30k users / 1M orders × each factor  [--factors 1,3,10 --rate 200]
--users 30000 --orders 1000000: the seeded data (batch, live-during-batch, consistency, restart, request-cost, members)
--keep-db: keep the local MariaDB running when this run started it (stopped otherwise)`)

/** The flags each scenario reads (besides --keep-db); any other is refused rather than silently ignored. */
const flagsOf: Record<(typeof scenarios)[number], string[]> = {
  batch: ['users', 'orders', 'naive-users', 'naive-orders', 'repetitions', 'workers', 'strategies', 'against'],
  'live-during-batch': ['users', 'orders', 'connections', 'loops', 'rate', 'model', 'variants'],
  consistency: ['users', 'orders', 'connections', 'loops'],
  restart: ['users', 'orders', 'rate'],
  event: ['rate', 'duration', 'burst', 'steps', 'step-duration', 'strategies', 'against', 'galera'],
  faults: ['rate'],
  'request-cost': ['users', 'orders', 'rate', 'duration', 'routes', 'saturate', 'against'],
  'guard-load': ['targets', 'repetitions'],
  members: ['users', 'orders', 'members', 'processes', 'duration'],
  scale: ['factors', 'rate'],
}

function parseFlags() {
  try {
    const { values, positionals, tokens } = parseArgs({
      allowPositionals: true,
      tokens: true,
      options: {
        users: { type: 'string', default: '30000' },
        orders: { type: 'string', default: '1000000' },
        'naive-users': { type: 'string' },
        'naive-orders': { type: 'string' },
        repetitions: { type: 'string', default: '3' },
        workers: { type: 'string', default: '1,2' },
        connections: { type: 'string', default: '500' },
        loops: { type: 'string', default: '10' },
        rate: { type: 'string' },
        model: { type: 'string', default: loadModels.join(',') },
        variants: { type: 'string', default: 'paced,unpaced' },
        duration: { type: 'string' },
        burst: { type: 'string', default: '20000' },
        steps: { type: 'string', default: '250,500,1000,2000,3000,4000,5000,6000,7000,8000,10000,12000' },
        'step-duration': { type: 'string', default: '10' },
        strategies: { type: 'string' },
        against: { type: 'string' },
        targets: { type: 'string', default: '150000,1500000' },
        members: { type: 'string', default: '100,300,1000' },
        processes: { type: 'string', default: '4' },
        factors: { type: 'string', default: '1,3,10' },
        routes: { type: 'string' },
        saturate: { type: 'boolean', default: false },
        galera: { type: 'boolean', default: false },
        'keep-db': { type: 'boolean', default: false },
      },
      strict: true,
    })
    const named = positionals[0]
    if (!named || !(scenarios as readonly string[]).includes(named)) throw new Error(`name a scenario: npm run bench -- <${scenarios.join('|')}>`)
    const scenario = named as (typeof scenarios)[number]
    const given = new Set(tokens.filter((token) => token.kind === 'option').map((token) => token.name))
    const misplaced = [...given].filter((flag) => flag !== 'keep-db' && !flagsOf[scenario].includes(flag))
    if (misplaced.length > 0) {
      const taken = flagsOf[scenario].map((flag) => `--${flag}`).join(', ')
      throw new Error(
        `${misplaced.map((flag) => `--${flag}`).join(', ')} ${misplaced.length === 1 ? 'does' : 'do'} not apply to ${scenario} (it takes ${taken})`,
      )
    }
    const int = (name: string, value: string, min: number) => {
      const n = Number(value)
      if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`)
      return n
    }
    // event: the seed's 1,666 req/s; restart: live traffic beside a batch slowed by a takeover;
    // live-during-batch: a sweep up to the throughput the write-up's fixed system reached.
    // request-cost: the rates of its issue (250, 1,000, 3,000 req/s).
    const defaultRate: Record<string, string> = {
      event: '1666',
      restart: '500',
      'live-during-batch': '250,500,750,1000,1160',
      faults: '200',
      'request-cost': '250,1000,3000',
      scale: '200',
    }
    const rates = (values.rate ?? defaultRate[scenario] ?? '500').split(',').map((rate) => int('rate', rate, 1))
    if (rates.length > 1 && scenario !== 'live-during-batch' && scenario !== 'request-cost') throw new Error('--rate takes one value for this scenario')
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
      rate: rates[0]!,
      rates,
      models: values.model.split(',').map((model): LoadModel => {
        if (!(loadModels as readonly string[]).includes(model)) throw new Error(`--model must be a list of ${loadModels.join(', ')}`)
        return model as LoadModel
      }),
      variants: values.variants.split(',').map((variant): LiveVariant => {
        if (!(liveVariants as readonly string[]).includes(variant)) throw new Error(`--variants must be a list of ${liveVariants.join(', ')}`)
        return variant as LiveVariant
      }),
      // request-cost: seconds per route and rate; members: its quiet window; the others: the event's 10 minutes.
      duration: int('duration', values.duration ?? { 'request-cost': '10', members: '20' }[scenario as string] ?? '600', 1),
      burst: int('burst', values.burst, 1),
      steps: values.steps.split(',').map((rate) => int('steps', rate, 1)),
      stepDuration: int('step-duration', values['step-duration'], 1),
      strategies: values.strategies?.split(','),
      againstRef: values.against,
      targets: values.targets.split(',').map((count) => int('targets', count, 1)),
      members: values.members.split(',').map((count) => int('members', count, 1)),
      processes: int('processes', values.processes, 1),
      factors: values.factors.split(',').map((factor) => {
        const n = Number(factor)
        if (!(n > 0 && n <= 100)) throw new Error('--factors must be a list of numbers above 0 and at most 100')
        return n
      }),
      // Route names with dashes for spaces (event-closed), so a list needs no quoting.
      routes: values.routes?.split(',').map((name): Route => {
        const route = name.replaceAll('-', ' ')
        if (!(requestCostRoutes as readonly string[]).includes(route))
          throw new Error(`--routes must be a list of ${requestCostRoutes.map((r) => r.replaceAll(' ', '-')).join(', ')}`)
        return route as Route
      }),
      saturate: values.saturate,
      galera: values.galera,
      keepDb: values['keep-db'],
    }
  } catch (error) {
    fail(error)
  }
}

const flags = parseFlags()
/** The local MariaDB, when this run started it: stopped again at the end (a server left running skews the next measurement). */
let startedDb = false
try {
  startedDb = (await ensureDatabaseServer())?.started === true
  const log = (line: string) => console.log(line)
  const against = flags.againstRef ? await checkoutTree(flags.againstRef, log) : undefined
  const common = { ...flags, against, baseUrl: databaseUrl(), log }
  const run = {
    batch: benchBatch,
    'live-during-batch': benchLiveDuringBatch,
    consistency: benchConsistency,
    restart: benchRestart,
    event: benchEvent,
    faults: benchFaults,
    'request-cost': benchRequestCost,
    'guard-load': benchGuardLoad,
    members: benchMembers,
    scale: benchScale,
  }[flags.scenario]
  const dir = await run(common)
  console.log(`report: ${dir}`)
  await stopStartedDb()
  process.exit(0)
} catch (error) {
  await stopStartedDb()
  fail(error)
}

async function stopStartedDb(): Promise<void> {
  if (!startedDb || flags.keepDb) return
  await stopLocalDb().catch(() => undefined)
  console.log('local MariaDB stopped (it was started for this run; --keep-db keeps it)')
}
