import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { serviceNames, type ServiceName } from '@commerce/kit'
import { localDir, repoRoot } from '@commerce/local/paths'

const run = promisify(execFile)

/** An earlier commit's tree, checked out beside this one with its own dependencies. */
export interface AgainstTree {
  /** How reports name it: the ref as given and its short commit. */
  label: string
  root: string
  /** Built to JavaScript (a tree with `npm run build`): its services run compiled, as this checkout's do. */
  compiled: boolean
}

/**
 * `--against <ref>`: the benchmark runs the services of `ref` beside this checkout's, in the same
 * run, so a change is measured before/after on one machine at one time (figures of two days are
 * not comparable). The tree is a detached git worktree under .local/trees/<commit>, its
 * dependencies installed from pnpm's store; the benchmark's own code and database schema stay
 * this checkout's, so the earlier services must run on today's schema.
 */
export async function checkoutTree(ref: string, log: (line: string) => void): Promise<AgainstTree> {
  const sha = (await run('git', ['rev-parse', '--verify', `${ref}^{commit}`], { cwd: repoRoot })).stdout.trim()
  const root = join(localDir, 'trees', sha)
  if (!existsSync(join(root, 'package.json'))) {
    log(`checking out ${ref} (${sha.slice(0, 7)}) into ${root}`)
    await run('git', ['worktree', 'add', '--force', '--detach', root, sha], { cwd: repoRoot })
  }
  if (!existsSync(join(root, 'node_modules', '.modules.yaml'))) {
    log('  installing its dependencies (pnpm, from the store)')
    await run('pnpm', ['install', '--frozen-lockfile', '--prefer-offline', '--reporter=silent'], { cwd: root, maxBuffer: 16 * 1024 * 1024 })
  }
  // A tree that ships compiled JavaScript is measured compiled: through tsx it would pay a loader
  // and an esbuild process this checkout's services do not.
  const compiled = existsSync(join(root, 'tsconfig.build.json'))
  if (compiled) {
    log('  building it (tsc -b)')
    await run(join(root, 'node_modules', '.bin', 'tsc'), ['-b', 'tsconfig.build.json'], { cwd: root, maxBuffer: 16 * 1024 * 1024 })
  }
  const short = sha.slice(0, 7)
  return { label: sha.startsWith(ref) ? short : `${ref} (${short})`, root, compiled }
}

/** A service entry of the tree (`server`, `main`): its build's when the tree is compiled, its source otherwise. */
const treeEntry = (tree: AgainstTree, service: ServiceName, entry: string): string =>
  join(tree.root, 'services', service, ...(tree.compiled ? ['dist', `${entry}.js`] : ['src', `${entry}.ts`]))

/** The tree's own server entries for every replica of the stack (stack option serverScripts). */
export function treeServerScripts(tree: AgainstTree): Partial<Record<ServiceName, string>> {
  return Object.fromEntries(serviceNames.map((service) => [service, treeEntry(tree, service, 'server')]))
}

/** The tree's one-shot batch worker entry (startBatchWorker's script). */
export const treeBatchEntry = (tree: AgainstTree): string => treeEntry(tree, 'batch-worker', 'main')
