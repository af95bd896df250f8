import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { repoRoot } from './paths.ts'
import { requireCommand } from './process.ts'

/** An instant with its offset spelled out (`Z` or `±HH:MM`): "00:05 on the 1st" means nothing without a zone. */
const isoInstant = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/

/**
 * The command prefix and environment that run a process tree on a clock shifted to `at`:
 * libfaketime in offset mode (`+Ns`), so each process, MariaDB included, sees the same
 * instant advancing at the real rate. FAKETIME_DONT_RESET keeps children from restarting the
 * offset. Installs Debian's faketime first when it is missing (the bootstrap does it as root).
 */
export function shiftedClockArgs(at: string, now = Date.now()): { args: string[]; env: Record<string, string>; offsetSeconds: number } {
  const target = Date.parse(at)
  if (!isoInstant.test(at) || Number.isNaN(target))
    throw new Error(`--at must be an ISO 8601 instant with its offset (e.g. 2027-03-01T00:05:00+09:00), got "${at}"`)
  let faketime: string
  try {
    faketime = requireCommand('faketime', 'faketime')
  } catch {
    const installed = spawnSync('sh', [join(repoRoot, 'infra/local/bootstrap.sh'), 'faketime'], { stdio: 'inherit' })
    if (installed.status !== 0) throw new Error('faketime could not be installed (apt-get install faketime)')
    faketime = requireCommand('faketime', 'faketime')
  }
  const offsetSeconds = Math.round((target - now) / 1000)
  return { args: [faketime, '-f', `${offsetSeconds >= 0 ? '+' : ''}${offsetSeconds}s`], env: { FAKETIME_DONT_RESET: '1' }, offsetSeconds }
}
