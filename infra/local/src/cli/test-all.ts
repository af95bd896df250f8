import { spawn } from 'node:child_process'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createConnection } from 'mysql2/promise'
import { withDatabase } from '@commerce/db'
import { ensureDatabaseServer } from '../database.ts'
import { mariaDbServer, stopLocalDb, type MariaDbServer } from '../mariadb.ts'
import { localDir, repoRoot } from '../paths.ts'
import { shiftedClockArgs } from '../shifted-clock.ts'
import { fail } from './fail.ts'
import { answerHelp } from './help.ts'

// `npm test [-- --at <ISO instant>] [--only <workspace,…>]`: typecheck and lint every workspace, then each
// workspace's tap suite against a real MariaDB (the local one, started here if needed and stopped
// again, or DATABASE_URL). With --at, the whole run — this process, every test, every process a
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

function exec(command: string, args: string[], cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk
      process.stdout.write(chunk)
    })
    child.once('close', (code) => resolve({ code: code ?? 1, output }))
  })
}

answerHelp(`
usage: npm test [-- --at <ISO instant>] [--only <workspace,…>]
Typechecks and lints every workspace, then runs each one's tests (real MariaDB, nginx, processes).
  --at    the whole run, every process it starts included, on a clock shifted to that instant (libfaketime)
  --only  just these workspaces, e.g. --only packages/db,services/batch-worker`)

function parseFlags() {
  try {
    const { values } = parseArgs({ options: { at: { type: 'string' }, only: { type: 'string' } }, strict: true })
    const only = values.only?.split(',').map((name) => name.trim().replace(/\/$/, ''))
    const unknown = only?.filter((name) => !allWorkspaces.includes(name))
    if (unknown?.length) throw new Error(`--only: no workspace ${unknown.join(', ')} (one of ${allWorkspaces.join(', ')})`)
    return { at: values.at, only }
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

let localDb: Awaited<ReturnType<typeof ensureDatabaseServer>>
try {
  if (process.env.COMMERCE_TEST_SHIFTED_TO) await startShiftedDatabase(process.env.COMMERCE_TEST_SHIFTED_TO)
  localDb = await ensureDatabaseServer()
} catch (error) {
  await shiftedDb?.stop()
  fail(error)
}

let passed = 0
let failed = 0
const failures: string[] = []
try {
  const typecheck = await exec('pnpm', ['-r', '--silent', 'typecheck'], repoRoot)
  if (typecheck.code !== 0) failures.push('typecheck')
  // Lint and format (biome.jsonc): `npm run lint` locally, `npm run format` to fix the shape.
  const lint = await exec('pnpm', ['exec', 'biome', 'ci', '--error-on-warnings', '.'], repoRoot)
  if (lint.code !== 0) failures.push('lint')

  for (const workspace of workspaces) {
    if (!existsSync(join(repoRoot, workspace, 'test'))) continue
    console.log(`\n» tests of ${workspace}`)
    const { code, output } = await exec('pnpm', ['--silent', 'exec', 'tap', '--reporter=tap'], join(repoRoot, workspace))
    // tap's closing line: "# { total: 12, pass: 11, fail: 1 }"
    const summary = output.match(/# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?/g)?.at(-1)
    const [, total = '0', pass = '0'] = summary?.match(/total: (\d+), pass: (\d+)/) ?? []
    passed += Number(pass)
    failed += Number(total) - Number(pass)
    if (code !== 0 || !summary) failures.push(workspace)
  }
} finally {
  if (localDb?.started) await stopLocalDb()
  await shiftedDb?.stop()
}

const clock = process.env.COMMERCE_TEST_SHIFTED_TO ? ` (clock shifted to ${process.env.COMMERCE_TEST_SHIFTED_TO})` : ''
console.log(`\n${failures.length ? `failed: ${failures.join(', ')}` : 'all workspaces green'}${clock}`)
console.log(`tests: ${passed} passed, ${failed} failed`)
process.exit(failures.length || failed ? 1 : 0)
