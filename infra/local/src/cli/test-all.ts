import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { ensureDatabaseServer } from '../database.ts'
import { stopLocalDb } from '../mariadb.ts'
import { repoRoot } from '../paths.ts'
import { fail } from './fail.ts'

// `npm test`: typecheck every workspace, then each workspace's tap suite against a real
// MariaDB (the local one, started here if needed and stopped again, or DATABASE_URL).
// Every workspace with a test folder, found rather than listed (a listed one was once forgotten);
// libraries first, so a broken foundation fails before the services built on it.
const workspaces = ['packages', 'services', 'infra', 'loadtest'].flatMap((group) => {
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

let localDb
try {
  localDb = await ensureDatabaseServer()
} catch (error) {
  fail(error)
}

let passed = 0
let failed = 0
const failures: string[] = []
try {
  const typecheck = await exec('pnpm', ['-r', '--silent', 'typecheck'], repoRoot)
  if (typecheck.code !== 0) failures.push('typecheck')

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
}

console.log(`\n${failures.length ? `failed: ${failures.join(', ')}` : 'all workspaces green'}`)
console.log(`tests: ${passed} passed, ${failed} failed`)
process.exit(failures.length || failed ? 1 : 0)
