import t, { type Test } from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, posix } from 'node:path'
import { composeProcesses, k8sProcesses, readRepoFile, repoPathOf, scriptsOf, sourceOf, type ImageProcess } from './helpers.ts'
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

t.test('the image: the Node the tests run on, production dependencies only, not root', async (t) => {
  const nodeImage = /^ARG NODE_IMAGE=node:(\d+)-[\w-]*slim$/m.exec(dockerfile)
  t.ok(nodeImage, 'a slim official Node base image')
  const major = Number(nodeImage?.[1])
  // What the suite proved is what ships: the image's Node major is the one running these tests.
  t.equal(major, Number(process.versions.node.split('.')[0]), `node:${major} is the Node major of the test suite`)
  t.match(dockerfile, /^RUN pnpm exec tsc -b tsconfig\.build\.json$/m, 'the build stage compiles every workspace the image runs')
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
    const commandLine = process.command.join(' ')
    // Compiled JavaScript only: no TypeScript loader (nor its esbuild helper process) at run time.
    t.notMatch(commandLine, /--import[ =]tsx\b|(^|\s)tsx\s/, 'no tsx at run time')
    t.notOk(manifest.dependencies?.tsx, `${workspace} does not ship tsx`)
    const scripts = scriptsOf(process.command)
    t.ok(scripts.length > 0, `runs a script: ${commandLine}`)
    for (const script of scripts) {
      t.match(script, /^dist\/.*\.js$/, `${script} is a compiled entry`)
      t.match(commandLine, /--conditions=compiled/, 'workspace packages resolve to their compiled dist/ too')
      const repoPath = posix.normalize(posix.join(workspace, sourceOf(script)))
      t.ok(existsSync(join(repoRoot, repoPath)), `${repoPath}, the source of ${script}, exists in the repo`)
      t.ok(existsSync(join(repoRoot, workspace, 'tsconfig.build.json')), `${workspace} is built by tsconfig.build.json`)
      t.ok(isCopied(repoPath), `${repoPath} is copied into the image`)
      t.ok(inContext(repoPath), `${repoPath} is not excluded by .dockerignore`)
    }
    // batch-worker's entry takes a mode; anything else prints usage and exits 1.
    const main = commandLine.match(/dist\/main\.js (\w+)/)
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
  const scripts = scriptsOf(['node', '--conditions=compiled', 'dist/servr.js'])
  t.same(scripts, ['dist/servr.js'])
  t.notOk(existsSync(join(repoRoot, 'services/user-api', sourceOf(scripts[0]!))))
  t.notOk(isCopied('loadtest/src/bench.ts'), 'loadtest is not part of the image')
})
