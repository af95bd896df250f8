import { spawn } from 'node:child_process'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createConnection } from 'mysql2/promise'
import { withDatabase } from '@commerce/db'
import { ensureDatabaseServer } from '../database.ts'
import { galeraCluster, type GaleraCluster } from '../galera.ts'
import { mariaDbServer, stopLocalDb, type MariaDbServer } from '../mariadb.ts'
import { localDir, repoRoot } from '../paths.ts'
import { shiftedClockArgs } from '../shifted-clock.ts'
import { fail } from './fail.ts'
import { answerHelp } from './help.ts'

// `npm test [-- --at <ISO instant>] [--only <workspace,…>] [--contend N] [--galera]`: typecheck and lint every workspace, then each
// workspace's tap suite against a real MariaDB (the local one, started here if needed and stopped
// again, or DATABASE_URL), beside a 3-node Galera cluster of this run's own for the tests that race
// nodes against each other (GALERA_URLS); with --galera every suite runs on that cluster. With --at, the whole run — this process, every test, every process a
// test starts, and a MariaDB of its own — runs on a clock shifted to that instant (libfaketime).
// Every workspace with a test folder, found rather than listed (a listed one was once forgotten);
// libraries first, so a broken foundation fails before the services built on it.
const allWorkspaces = ['packages', 'services', 'infra', 'loadtest'].flatMap((group) => {
  const dir = join(repoRoot, group)
  if (existsSync(join(dir, 'package.json'))) return [group]
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(dir, entry.name, 'package.json')))
    .map((entry) => `${group}/${entry.name}`)
    .sort()
})

/** Runs a command; with `echo`, its stdout is written through as it comes, else only collected. */
function exec(command: string, args: string[], cwd: string, echo = true): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', echo ? 'inherit' : 'pipe'] })
    let output = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk
      if (echo) process.stdout.write(chunk)
    })
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk))
    child.once('close', (code) => resolve({ code: code ?? 1, output }))
  })
}

answerHelp(`
usage: npm test [-- --at <ISO instant>] [--only <workspace,…>] [--contend N] [--galera]
Typechecks and lints every workspace, then runs each one's tests (real MariaDB, a 3-node Galera cluster, nginx, processes).
  --at       the whole run, every process it starts included, on a clock shifted to that instant (libfaketime)
  --only     just these workspaces, e.g. --only packages/db,services/batch-worker
  --contend  N busy processes (normal priority) beside the whole run: the suite must pass on a loaded machine
  --galera   every suite on the Galera cluster (node 1), not on one server`)

function parseFlags() {
  try {
    const { values } = parseArgs({
      options: {
        at: { type: 'string' },
        only: { type: 'string' },
        contend: { type: 'string', default: '0' },
        galera: { type: 'boolean', default: false },
      },
      strict: true,
    })
    const only = values.only?.split(',').map((name) => name.trim().replace(/\/$/, ''))
    const unknown = only?.filter((name) => !allWorkspaces.includes(name))
    if (unknown?.length) throw new Error(`--only: no workspace ${unknown.join(', ')} (one of ${allWorkspaces.join(', ')})`)
    const contend = Number(values.contend)
    if (!Number.isInteger(contend) || contend < 0 || contend > 64) throw new Error('--contend must be an integer from 0 to 64')
    return { at: values.at, only, contend, galera: values.galera }
  } catch (error) {
    fail(error)
  }
}
const flags = parseFlags()
const workspaces = flags.only ? allWorkspaces.filter((workspace) => flags.only?.includes(workspace)) : allWorkspaces

// --at: run this same command again under faketime, shifted so that "now" is that instant.
// The marker keeps the shifted run from shifting again; its exit code is this run's.
if (flags.at && !process.env.COMMERCE_TEST_SHIFTED_TO) {
  let shifted: ReturnType<typeof shiftedClockArgs>
  try {
    shifted = shiftedClockArgs(flags.at)
  } catch (error) {
    fail(error)
  }
  const args = [...shifted.args, process.execPath, '--import', 'tsx', import.meta.filename, ...process.argv.slice(2)]
  console.log(`» the whole run on a clock shifted to ${flags.at} (${shifted.offsetSeconds} s from now, libfaketime)`)
  const child = spawn(args[0]!, args.slice(1), { stdio: 'inherit', env: { ...process.env, ...shifted.env, COMMERCE_TEST_SHIFTED_TO: flags.at } })
  child.once('close', (code) => process.exit(code ?? 1))
  await new Promise(() => undefined)
}

/**
 * Under a shifted clock the database must be shifted too: a MariaDB of this run's own (the dev
 * server, if running, keeps the real time), on a fresh datadir, used through DATABASE_URL.
 */
let shiftedDb: MariaDbServer | undefined
async function startShiftedDatabase(target: string): Promise<void> {
  const dir = join(localDir, 'mariadb-shifted')
  rmSync(dir, { recursive: true, force: true })
  shiftedDb = mariaDbServer({ dir, port: 3396, bufferPoolSize: '512M', logFileSize: '128M' })
  await shiftedDb.start()
  process.env.DATABASE_URL = shiftedDb.url('commerce')
  const connection = await createConnection({ uri: withDatabase(process.env.DATABASE_URL, ''), timezone: 'Z' })
  const [[row]] = (await connection.query('SELECT NOW(6) AS now')) as unknown as [[{ now: Date }]]
  await connection.end()
  const drift = (date: Date) => Math.abs(date.getTime() - Date.parse(target)) / 1000
  console.log(`» clock: this process ${new Date().toISOString()}, MariaDB ${row.now.toISOString()} (target ${target})`)
  // The run took seconds to get here; minutes off means the shift did not take.
  if (drift(new Date()) > 300 || drift(row.now) > 300) throw new Error(`the clock is not shifted to ${target}: is libfaketime working?`)
}

// --contend N: N processes spinning at normal priority for the whole run, as other work on a
// shared CI machine would. Killed by pid when the run ends, and on their own should this one die.
const contenders = Array.from({ length: flags.contend }, () =>
  spawn(process.execPath, ['-e', 'const p = process.ppid; for (let i = 1; ; i++) if (i % 1e8 === 0 && process.ppid !== p) process.exit()'], {
    stdio: 'ignore',
  }),
)
if (contenders.length) console.log(`» ${contenders.length} busy processes beside the run (--contend)`)
const stopContenders = () => {
  for (const child of contenders) child.kill('SIGKILL')
}

/**
 * The run's own Galera cluster, on a fresh datadir (under a shifted clock, every node on it too):
 * the tests that hold racers on two nodes find it in GALERA_URLS.
 */
let galera: GaleraCluster | undefined
async function startGalera(): Promise<void> {
  const dir = join(localDir, 'galera-test')
  galera = galeraCluster({ dir, portBase: 3350, bufferPoolSize: '256M', logFileSize: '64M' })
  // Nodes a killed run left behind are stopped by their pid files before the folder goes.
  await galera.stop()
  rmSync(dir, { recursive: true, force: true })
  const started = performance.now()
  await galera.start()
  process.env.GALERA_URLS = galera.urls('commerce').join(',')
  console.log(`» a 3-node Galera cluster on ports 3351-3353 (${((performance.now() - started) / 1000).toFixed(0)} s)`)
  if (flags.galera) process.env.DATABASE_URL = galera.urls('commerce')[0]
}

let localDb: Awaited<ReturnType<typeof ensureDatabaseServer>>
try {
  if (process.env.COMMERCE_TEST_SHIFTED_TO) await startShiftedDatabase(process.env.COMMERCE_TEST_SHIFTED_TO)
  await startGalera()
  localDb = await ensureDatabaseServer()
} catch (error) {
  stopContenders()
  await shiftedDb?.stop()
  await galera?.stop()
  fail(error)
}

let passed = 0
let failed = 0
const failures: string[] = []
const fileTimes: { file: string; seconds: number }[] = []
/** The workspaces whose suites drive whole stacks, longest first: they start the queue. */
const stackDriving = ['loadtest', 'infra/local']
const runStarted = performance.now()
try {
  // The static checks read no clock: a shifted run (--at) leaves them to the run on the real one.
  if (!process.env.COMMERCE_TEST_SHIFTED_TO) {
    const typecheck = await exec('pnpm', ['exec', 'tsc', '-p', 'tsconfig.typecheck.json'], repoRoot)
    if (typecheck.code !== 0) failures.push('typecheck')
    // Lint and format (biome.jsonc): `npm run lint` locally, `npm run format` to fix the shape.
    const lint = await exec('pnpm', ['exec', 'biome', 'ci', '--error-on-warnings', '.'], repoRoot)
    if (lint.code !== 0) failures.push('lint')
  }

  // Two workspaces at a time, each taking the next from one queue: the ones that drive whole stacks
  // first (the longest), then the rest in order. Any two may run together: they use unique
  // databases, their own MariaDB servers, and ports apart (fixed ones or the kernel's). Each
  // workspace's output is printed whole when it ends, so two never interleave.
  const runWorkspace = async (workspace: string) => {
    const started = performance.now()
    const { code, output } = await exec('pnpm', ['--silent', 'exec', 'tap', '--reporter=tap'], join(repoRoot, workspace), false)
    const seconds = (performance.now() - started) / 1000
    process.stdout.write(`\n» tests of ${workspace} (${seconds.toFixed(0)} s)\n${output}`)
    // tap's closing line: "# { total: 12, pass: 11, fail: 1 }"
    const summary = output.match(/# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?/g)?.at(-1)
    const [, total = '0', pass = '0'] = summary?.match(/total: (\d+), pass: (\d+)/) ?? []
    passed += Number(pass)
    failed += Number(total) - Number(pass)
    if (code !== 0 || !summary) failures.push(workspace)
    for (const [, file, ms] of output.matchAll(/^(?:not )?ok \d+ - (\S+\.test\.ts) # time=([\d.]+)ms/gm))
      fileTimes.push({ file: `${workspace}/${file}`, seconds: Number(ms) / 1000 })
  }
  const tested = workspaces.filter((workspace) => existsSync(join(repoRoot, workspace, 'test')))
  // tap rebuilds its Test class for the configured plugins on its first run; two runs starting at
  // once would both rebuild it, each deleting what the other wrote. So it is built here, once.
  if (tested[0] && (await exec('pnpm', ['--silent', 'exec', 'tap', 'build'], join(repoRoot, tested[0]), false)).code !== 0) failures.push('tap build')
  const queue = [...stackDriving.filter((w) => tested.includes(w)), ...tested.filter((w) => !stackDriving.includes(w))]
  await Promise.all(
    [1, 2].map(async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await runWorkspace(next)
    }),
  )
} finally {
  stopContenders()
  if (localDb?.started) await stopLocalDb()
  await shiftedDb?.stop()
  await galera?.stop()
}

console.log(`\nthe ${Math.min(20, fileTimes.length)} slowest test files (wall time, two workspaces at a time):`)
for (const { file, seconds } of fileTimes.sort((a, b) => b.seconds - a.seconds).slice(0, 20)) console.log(`  ${seconds.toFixed(1).padStart(7)} s  ${file}`)
console.log(`the whole run: ${((performance.now() - runStarted) / 1000).toFixed(0)} s`)
const clock = process.env.COMMERCE_TEST_SHIFTED_TO ? ` (clock shifted to ${process.env.COMMERCE_TEST_SHIFTED_TO})` : ''
console.log(`\n${failures.length ? `failed: ${failures.join(', ')}` : 'all workspaces green'}${clock}`)
console.log(`tests: ${passed} passed, ${failed} failed`)
process.exit(failures.length || failed ? 1 : 0)
