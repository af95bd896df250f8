import { relative } from 'node:path'
import { parseArgs } from 'node:util'
import { localDir, repoRoot } from '../paths.ts'
import { startStack, stopStackFromState, type Replica } from '../stack.ts'
import { fail } from './fail.ts'
import { answerHelp } from './help.ts'

// `npm run stack:up [-- --replicas N] [--port 8080]` / `npm run stack:down`: the local topology
// as plain processes. `down` stops what `up` recorded in .local/stack.json.
const usage = 'usage: stack.ts up [--replicas N] [--port 8080] [--galera] | stack.ts down'
const shown = (path: string) => relative(repoRoot, path) || '.'

function integerFlag(name: string, value: string, min: number, max: number): number {
  const number = Number(value)
  if (!/^\d+$/.test(value) || number < min || number > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got "${value}"`)
  return number
}

function replicaTable(replicas: readonly Replica[]): string {
  const rows = [
    ['service', '#', 'port', 'pid', 'instance'],
    ...replicas.map((r) => [r.service, String(r.index), String(r.port), String(r.pid), r.instanceId ?? '']),
  ]
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? []
  return rows.map((row) => `  ${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ')}`.trimEnd()).join('\n')
}

async function up(replicasFlag: string | undefined, portFlag: string | undefined, galera: boolean): Promise<void> {
  const replicas = integerFlag('replicas', replicasFlag ?? '2', 1, 99)
  const httpPort = integerFlag('port', portFlag ?? process.env.STACK_HTTP_PORT ?? '8080', 1, 65_535)
  // Ctrl-C while starting: the replicas run detached, so the stack stops them itself, in order.
  const interrupt = new AbortController()
  const onSignal = () => interrupt.abort(new Error('interrupted; everything started was stopped again'))
  // `on`: Ctrl-C arrives twice (terminal + tsx relay); the second must not kill the teardown.
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const stack = await startStack({ replicas, httpPort, galera, signal: interrupt.signal, onProgress: (line) => console.log(`» ${line}`) })
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  console.log(`\nstack is up: ${stack.url}\n`)
  console.log(replicaTable(stack.replicas))
  console.log(`\nlogs:    ${shown(localDir)}/logs/<service>-<n>.log`)
  console.log(`try:     curl -s ${stack.url}/ops/user-api/health`)
  console.log('stop it: npm run stack:down')
}

async function down(): Promise<void> {
  const summary = await stopStackFromState({ onProgress: (line) => console.log(`» ${line}`) })
  if (!summary || (summary.replicas === 0 && !summary.nginx && !summary.database)) console.log('nothing running')
  else console.log('stack is down')
}

answerHelp(`
usage: npm run stack:up [-- --replicas N] [--port 8080] [--galera]   |   npm run stack:down
up    starts the local topology as processes: MariaDB (unless DATABASE_URL), the migrate job,
      N replicas of each API (default 2, at most 99), one batch-worker daemon, nginx on 127.0.0.1:<port>
      --galera: a 3-node Galera cluster (ports 3601-3603) instead of one MariaDB, each service's
      replica i writing through node (i mod 3) + 1
down  stops what up recorded in .local/stack.json (the MariaDB too, if up started it)`)
try {
  const { positionals, values } = parseArgs({
    options: { replicas: { type: 'string' }, port: { type: 'string' }, galera: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  })
  const [command, ...extra] = positionals
  if (extra.length > 0) throw new Error(`unexpected "${extra.join(' ')}"; ${usage}`)
  switch (command) {
    case 'up':
      await up(values.replicas, values.port, values.galera)
      break
    case 'down':
      if (values.replicas !== undefined || values.port !== undefined || values.galera) throw new Error(`down takes no flags; ${usage}`)
      await down()
      break
    default:
      throw new Error(usage)
  }
} catch (error) {
  fail(error)
}
