import t, { type Test } from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, posix } from 'node:path'
import { composeProcesses, k8sProcesses, readRepoFile, repoPathOf, scriptsOf, type ImageProcess } from './helpers.ts'
import { repoRoot } from '../src/topology.ts'

const dockerfile = readRepoFile('Dockerfile')
const dockerignore = readRepoFile('.dockerignore')
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .filter((line) => /^[A-Z]+\s/.test(line))
const stages = dockerfile.split(/^FROM /m).slice(1)
const runtimeStage = stages.at(-1) ?? ''

/** Repo paths the last stage ends up with: what the install stage COPYs (the runtime copies /app whole). */
const copiedSources = instructions
  .filter((line) => line.startsWith('COPY ') && !line.includes('--from='))
  .flatMap((line) =>
    line
      .replace(/^COPY\s+/, '')
      .split(/\s+/)
      .slice(0, -1),
  )
  .filter((source) => !source.startsWith('--'))
  .map((source) => source.replace(/\/$/, ''))

const isCopied = (repoPath: string) => copiedSources.some((source) => repoPath === source || repoPath.startsWith(`${source}/`))
/** .dockerignore: allow-list style (`*`, then `!path`), so a path is sent only when let back in. */
const allowed = dockerignore
  .split('\n')
  .filter((line) => line.startsWith('!'))
  .map((line) => line.slice(1).replace(/\/$/, ''))
const inContext = (repoPath: string) =>
  allowed.some((path) => repoPath === path || repoPath.startsWith(`${path}/`)) && !/(^|\/)(test|node_modules)(\/|$)/.test(repoPath)

t.test('the image: current Node LTS, production dependencies only, not root', async (t) => {
  const nodeImage = /^ARG NODE_IMAGE=node:(\d+)-[\w-]*slim$/m.exec(dockerfile)
  t.ok(nodeImage, 'a slim official Node base image')
  const major = Number(nodeImage?.[1])
  // Even majors become LTS; 22 and 24 are the LTS lines supported today.
  t.ok(major >= 22 && major % 2 === 0, `node:${major} is an LTS line`)
  t.ok(stages.length >= 2, 'multi-stage: the runtime does not carry pnpm or the build layers')
  t.match(dockerfile, /pnpm install --prod --frozen-lockfile/, 'only production dependencies, exactly the lockfile')
  t.match(runtimeStage, /^USER node$/m, 'the runtime stage runs as the unprivileged node user')
  t.notMatch(runtimeStage, /^USER root$/m)
  t.match(runtimeStage, /HOST=0\.0\.0\.0/, 'services listen on every interface inside a container')
  t.ok(dockerignore.split('\n').includes('**/node_modules'), 'the host node_modules never enter the build context')
})

/** The workspace folder of each `@commerce/<name>` package, read from the manifests. */
function workspaceFolders(): Map<string, string> {
  const folders = new Map<string, string>()
  for (const group of ['packages', 'services']) {
    for (const name of readdirSync(join(repoRoot, group))) {
      const manifest = join(repoRoot, group, name, 'package.json')
      if (existsSync(manifest)) folders.set((JSON.parse(readFileSync(manifest, 'utf8')) as { name: string }).name, `${group}/${name}`)
    }
  }
  folders.set('@commerce/local', 'infra/local')
  return folders
}

/** The services, the migrate job's workspace and every workspace they depend on at run time, transitively. */
function imageWorkspaces(): string[] {
  const folders = workspaceFolders()
  const seen = new Set<string>()
  const visit = (folder: string) => {
    if (seen.has(folder)) return
    seen.add(folder)
    const { dependencies = {} } = JSON.parse(readFileSync(join(repoRoot, folder, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }
    for (const [name, version] of Object.entries(dependencies)) if (version.startsWith('workspace:') && folders.has(name)) visit(folders.get(name)!)
  }
  for (const folder of [...folders.values()].filter((folder) => folder.startsWith('services/'))) visit(folder)
  visit('infra/local')
  return [...seen].sort()
}

t.test('the Dockerfile installs every workspace the image runs', async (t) => {
  const workspaces = imageWorkspaces()
  t.ok(workspaces.includes('packages/db') && workspaces.includes('infra/local'), `found from the manifests: ${workspaces.join(', ')}`)
  for (const workspace of workspaces) {
    t.ok(copiedSources.includes(`${workspace}/package.json`), `${workspace}'s manifest is copied before the install`)
    t.ok(isCopied(`${workspace}/src/index.ts`) || isCopied(`${workspace}/src`), `${workspace}'s sources are copied`)
  }
})

function checkProcess(t: Test, process: ImageProcess) {
  t.test(process.origin, async (t) => {
    t.match(process.workingDir, /^\/app\//, 'a working directory inside the image')
    const workspace = repoPathOf(process.workingDir)
    const manifestPath = join(repoRoot, workspace, 'package.json')
    t.ok(existsSync(manifestPath), `${workspace} is a workspace`)
    if (!existsSync(manifestPath)) return
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { dependencies?: Record<string, string> }
    // `node --import tsx` resolves tsx from the working directory; devDependencies are not installed.
    if (process.command.some((argument) => /--import[ =]tsx\b|^tsx$/.test(argument) || argument.includes('--import tsx'))) {
      t.ok(manifest.dependencies?.tsx, `${workspace} has tsx among its production dependencies`)
    }
    const scripts = scriptsOf(process.command)
    t.ok(scripts.length > 0, `runs a script: ${process.command.join(' ')}`)
    for (const script of scripts) {
      const repoPath = posix.normalize(posix.join(workspace, script))
      t.ok(existsSync(join(repoRoot, repoPath)), `${repoPath} exists in the repo`)
      t.ok(isCopied(repoPath), `${repoPath} is copied into the image`)
      t.ok(inContext(repoPath), `${repoPath} is not excluded by .dockerignore`)
    }
    // batch-worker's entry takes a mode; anything else prints usage and exits 1.
    const main = process.command.join(' ').match(/src\/main\.ts (\w+)/)
    if (main) t.ok(['daemon', 'run'].includes(main[1]!), `batch-worker mode "${main[1]}" exists`)
  })
}

t.test('every Compose process runs a file the image has', async (t) => {
  const processes = composeProcesses()
  t.same(
    processes.map((process) => process.origin).sort(),
    ['batch-run', 'batch-worker', 'coupon-api', 'event-apply', 'migrate', 'user-api'].map((name) => `compose service ${name}`),
  )
  for (const process of processes) checkProcess(t, process)
})

t.test('every Kubernetes container of the image runs a file the image has', async (t) => {
  const processes = k8sProcesses()
  t.ok(processes.length >= 7, `${processes.length} containers`)
  for (const process of processes) checkProcess(t, process)
})

t.test('a script path that is not in the image would be caught', async (t) => {
  const scripts = scriptsOf(['node', '--import', 'tsx', 'src/servr.ts'])
  t.same(scripts, ['src/servr.ts'])
  t.notOk(existsSync(join(repoRoot, 'services/user-api', scripts[0]!)))
  t.notOk(isCopied('loadtest/src/bench.ts'), 'loadtest is not part of the image')
})
