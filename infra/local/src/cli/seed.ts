import { parseArgs } from 'node:util'
import cliProgress from 'cli-progress'
import { databaseUrl, migrateDatabase } from '@commerce/db'
import { grades, parsePeriod } from '@commerce/domain'
import { seedData, seedOwnedTables } from '../seed-data.ts'
import { ensureDatabaseServer } from '../database.ts'
import { fail } from './fail.ts'
import { answerHelp } from './help.ts'

// `npm run seed -- --users 30000 --orders 1000000 --period 2026-10 [--seed 1] [--no-reset]`:
// the deterministic data generator, against DATABASE_URL or the local MariaDB.
// It resets the tables it owns by default: seeding is how a demo or a benchmark starts over.

const example = 'e.g. npm run seed -- --users 30000 --orders 1000000 --period 2026-10'

function parseCount(flag: string, value: string | undefined, min: number): number {
  if (value === undefined) throw new Error(`--${flag} is required, ${example}`)
  const count = /^\d+$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(count) || count < min) throw new Error(`--${flag} must be an integer ≥ ${min}, got "${value}"`)
  return count
}

answerHelp(`
usage: npm run seed -- --users N --orders M --period YYYY-MM [--seed 1] [--no-reset]
The deterministic data generator (same flags, same rows), into DATABASE_URL or the local MariaDB.
  --users     users to create (required, ≥ 1)
  --orders    orders to create (required, ≥ 0); ~17.5% fall in the months around the period
  --period    the month the grade batch will judge (required)
  --seed      0 to 4294967295 (default 1)
  --no-reset  refuse a non-empty users or orders table instead of emptying the generator's tables`)

function parseFlags() {
  const { values } = parseArgs({
    options: {
      users: { type: 'string' },
      orders: { type: 'string' },
      period: { type: 'string' },
      seed: { type: 'string', default: '1' },
      reset: { type: 'boolean', default: true },
    },
    allowNegative: true,
    strict: true,
  })
  const users = parseCount('users', values.users, 1)
  const orders = parseCount('orders', values.orders, 0)
  if (values.period === undefined) throw new Error(`--period is required, ${example}`)
  const period = values.period
  if (!parsePeriod(period)) throw new Error(`--period must be a month as YYYY-MM, got "${period}"`)
  const seed = parseCount('seed', values.seed, 0)
  if (seed > 0xffff_ffff) throw new Error(`--seed must be an integer from 0 to 4294967295, got "${values.seed}"`)
  return { users, orders, period, seed, reset: values.reset }
}

/** A bar on a terminal; a line every 10% when piped (CI logs, the demo's transcript). */
function createProgress(): { update(done: number, total: number): void; stop(): void } {
  if (process.stdout.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: 'orders [{bar}] {percentage}% | {value}/{total} | {duration}s', hideCursor: true },
      cliProgress.Presets.shades_classic,
    )
    let started = false
    return {
      update(done, total) {
        if (!started) bar.start(total, 0)
        started = true
        bar.update(done)
      },
      stop: () => started && bar.stop(),
    }
  }
  let lastTenth = 0
  return {
    update(done, total) {
      const tenth = Math.floor((done * 10) / total)
      if (tenth <= lastTenth) return
      lastTenth = tenth
      console.log(`orders ${tenth * 10}% (${done}/${total})`)
    },
    stop: () => undefined,
  }
}

try {
  const flags = parseFlags()
  await ensureDatabaseServer()
  const url = databaseUrl()
  await migrateDatabase(url)
  const target = `${new URL(url).host}${new URL(url).pathname}`
  console.log(
    flags.reset
      ? `seeding ${target}: emptying ${seedOwnedTables.join(', ')} first (--no-reset keeps them and refuses a non-empty users table)`
      : `seeding ${target} without reset`,
  )
  const progress = createProgress()
  const result = await seedData({ url, ...flags, onProgress: (done, total) => progress.update(done, total) }).finally(() => progress.stop())
  const rowsPerSecond = Math.round((result.users + result.orders) / result.seconds)
  const split = [...grades]
    .reverse()
    .map((grade) => `${grade} ${result.grades[grade]} (${((100 * result.grades[grade]) / result.users).toFixed(1)}%)`)
    .join(' · ')
  console.log(
    `seeded ${result.users} users and ${result.orders} orders around ${flags.period} (seed ${flags.seed}) in ${result.seconds.toFixed(1)} s, ` +
      `${rowsPerSecond} rows/s; grades for ${flags.period}: ${split}`,
  )
} catch (error) {
  fail(error)
}
