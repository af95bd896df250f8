import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, posix } from 'node:path'
import { promisify } from 'node:util'
import { parse, stringify } from 'yaml'
import { k8sNamespace, repoRoot } from '../src/topology.ts'
import { loadCompose, metricNamesIn, readRepoFile } from './helpers.ts'

// The alert rules (infra/observability/prometheus/alerts.yml) checked by promtool, as each
// deployment lays them out beside its config, and against the metrics the code registers.
// promtool is not optional: `npm test` installs it (Debian's prometheus package, bootstrap.sh).

const prometheusDir = 'infra/observability/prometheus'
const alertsFile = `${prometheusDir}/alerts.yml`

interface Rule {
  alert: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}
const rules = (parse(readRepoFile(alertsFile)) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((group) => group.rules)

async function promtool(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)('promtool', args, { cwd: repoRoot })
    return { code: 0, output: stdout + stderr }
  } catch (error) {
    const failure = error as { code?: number | string; stdout?: string; stderr?: string }
    if (failure.code === 'ENOENT')
      throw new Error("promtool is not installed: `npm test` installs it (Debian's prometheus package); or apt-get install prometheus")
    return { code: Number(failure.code ?? 1), output: `${failure.stdout ?? ''}${failure.stderr ?? ''}` }
  }
}

/** A scratch directory laid out like a Prometheus container's config directory, removed on teardown. */
function scratch(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'alerts-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('promtool: the rules are valid and their unit tests (alerts.test.yml) pass', async (t) => {
  const check = await promtool('check', 'rules', alertsFile)
  t.equal(check.code, 0, check.output)
  t.match(check.output, `SUCCESS: ${rules.length} rules found`)
  const tests = await promtool('test', 'rules', `${prometheusDir}/alerts.test.yml`)
  t.equal(tests.code, 0, tests.output)
  t.match(tests.output, 'SUCCESS')
})

t.test('promtool: the unit tests can fail (a rule that fires a minute early is caught)', async (t) => {
  const dir = scratch(t)
  cpSync(join(repoRoot, prometheusDir, 'alerts.test.yml'), join(dir, 'alerts.test.yml'))
  writeFileSync(
    join(dir, 'alerts.yml'),
    readRepoFile(alertsFile).replace('(coupon_redemptions_oldest_pending_seconds) > 600', '(coupon_redemptions_oldest_pending_seconds) > 540'),
  )
  const tests = await promtool('test', 'rules', join(dir, 'alerts.test.yml'))
  t.not(tests.code, 0, 'a changed threshold fails the unit tests')
  t.match(tests.output, 'DeferredRedemptionsAging')
})

t.test('every alert has a unit test that fires it and one that must not', async (t) => {
  const unitTests = (
    parse(readRepoFile(`${prometheusDir}/alerts.test.yml`)) as { tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[] }
  ).tests
  const cases = unitTests.flatMap((unitTest) => unitTest.alert_rule_test ?? [])
  for (const { alert } of rules) {
    const mine = cases.filter((entry) => entry.alertname === alert)
    t.ok(
      mine.some((entry) => entry.exp_alerts.length > 0),
      `${alert}: a case where it fires`,
    )
    t.ok(
      mine.some((entry) => entry.exp_alerts.length === 0),
      `${alert}: a case where it must not`,
    )
  }
  t.same(new Set(cases.map((entry) => entry.alertname)), new Set(rules.map((rule) => rule.alert)), 'no test of an alert that does not exist')
})

t.test('every alert waits (`for`), has a severity, a summary and a description, and is in docs/OPERATIONS.md', async (t) => {
  const operations = readRepoFile('docs/OPERATIONS.md')
  const section = operations.slice(operations.indexOf('## Alerts'))
  t.ok(operations.includes('## Alerts'), 'OPERATIONS has an Alerts section')
  for (const rule of rules) {
    t.match(rule.for, /^\d+[smh]$/, `${rule.alert}: for`)
    t.ok(['warning', 'critical'].includes(rule.labels?.severity ?? ''), `${rule.alert}: severity ${rule.labels?.severity}`)
    t.ok(rule.annotations?.summary && rule.annotations.description, `${rule.alert}: summary and description`)
    t.ok(section.includes(`\`${rule.alert}\``), `${rule.alert}: explained under "Alerts"`)
  }
})

/** Metric names the code registers: prom-client constructors' `name: '…'`, local helpers' first argument (job/metrics.ts), and scrapedGauges' entries. */
function registeredMetrics(): Set<string> {
  const names = new Set<string>()
  const sources = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) return sources(path)
      return entry.name.endsWith('.ts') ? [path] : []
    })
  for (const group of ['packages', 'services']) {
    for (const workspace of readdirSync(join(repoRoot, group))) {
      const src = join(repoRoot, group, workspace, 'src')
      if (!existsSync(src)) continue
      for (const file of sources(src)) {
        const text = readFileSync(file, 'utf8')
        for (const [, name] of text.matchAll(/new (?:Counter|Gauge|Histogram|Summary)\(\{\s*name: '([a-z_:][a-z0-9_:]*)'/g)) names.add(name!)
        for (const [, name] of text.matchAll(/\b(?:counter|gauge|histogram)\('([a-z_:][a-z0-9_:]*)'/g)) names.add(name!)
        // scrapedGauges(registry, read, [{ name: '…', … }, …]) (plugins/scrape-read.ts): every entry's name.
        for (const [, list] of text.matchAll(/\bscrapedGauges\([^[]*\[([\s\S]*?)\n\s*\]\)/g)) {
          for (const [, name] of list!.matchAll(/\{\s*name: '([a-z_:][a-z0-9_:]*)'/g)) names.add(name!)
        }
      }
    }
  }
  return names
}

t.test('every metric the alerts read is one the code registers (a renamed metric fails here)', async (t) => {
  const registered = registeredMetrics()
  // Prometheus's own, per scrape target.
  const fromPrometheus = new Set(['up'])
  const known = (name: string) => fromPrometheus.has(name) || registered.has(name) || registered.has(name.replace(/_(bucket|sum|count)$/, ''))
  t.ok(
    registered.has('batch_chunks_done_total') && registered.has('clock_offset_seconds') && registered.has('coupon_redemptions_pending'),
    'the three ways of registering are found',
  )
  for (const rule of rules) {
    const names = metricNamesIn(rule.expr)
    t.ok(names.length > 0, `${rule.alert}: reads a metric`)
    for (const name of names) t.ok(known(name), `${rule.alert}: ${name} is registered`)
  }
  t.notOk(known('batch_run_open_age_second'), 'a misspelt metric would be caught')
})

t.test('Compose: promtool check config on the container layout the volumes make (config and its rule files)', async (t) => {
  const service = loadCompose().services.prometheus!
  const configPath = (service as { command?: string[] }).command?.find((argument) => argument.startsWith('--config.file='))?.slice('--config.file='.length)
  t.ok(configPath, 'Prometheus is started with --config.file')
  const root = scratch(t)
  for (const volume of service.volumes ?? []) {
    const [source, target] = volume.split(':') as [string, string]
    if (!source.startsWith('.')) continue
    const from = join(repoRoot, 'infra/compose', source)
    mkdirSync(dirname(join(root, target)), { recursive: true })
    cpSync(from, join(root, target), { recursive: true })
  }
  const config = parse(readFileSync(join(root, configPath!), 'utf8')) as { rule_files?: string[] }
  t.ok(config.rule_files?.length, 'the config loads rule files')
  for (const file of config.rule_files ?? []) {
    const inContainer = posix.join(posix.dirname(configPath!), file)
    t.equal(readFileSync(join(root, inContainer), 'utf8'), readRepoFile(alertsFile), `${inContainer} is mounted: alerts.yml`)
  }
  const check = await promtool('check', 'config', join(root, configPath!))
  t.equal(check.code, 0, check.output)
  t.match(check.output, `SUCCESS: ${rules.length} rules found`)
})

t.test('Kubernetes: promtool check config on the ConfigMap the kustomization generates (config and its rule files)', async (t) => {
  const kustomization = parse(readRepoFile(`${prometheusDir}/kustomization.yaml`)) as {
    namespace: string
    configMapGenerator: { name: string; files: string[] }[]
  }
  t.equal(kustomization.namespace, k8sNamespace)
  const generator = kustomization.configMapGenerator.find((entry) => entry.name === 'prometheus-config')
  t.ok(generator, 'a prometheus-config ConfigMap')
  // The ConfigMap mounted as a directory: one file per key (`key=path`, or the file's own name).
  const root = scratch(t)
  const keys: Record<string, string> = {}
  for (const entry of generator?.files ?? []) {
    const [key, path] = entry.includes('=') ? (entry.split('=') as [string, string]) : [posix.basename(entry), entry]
    keys[key] = path
    writeFileSync(join(root, key), readRepoFile(posix.join(prometheusDir, path)))
  }
  t.equal(keys['prometheus.yml'], 'kubernetes.yml', 'the config is the cluster one')
  const config = parse(readFileSync(join(root, 'prometheus.yml'), 'utf8')) as { rule_files?: string[]; scrape_configs: Record<string, unknown>[] }
  t.ok(config.rule_files?.length, 'the config loads rule files')
  for (const file of config.rule_files ?? []) t.equal(keys[file], 'alerts.yml', `${file} is a key of the same ConfigMap: alerts.yml`)
  // Debian's promtool is built without Kubernetes service discovery (it refuses the field), so the
  // check reads the config with that one block swapped for an empty static list; the rest
  // (relabelling, rule files) is checked as it ships.
  for (const job of config.scrape_configs) {
    if (!('kubernetes_sd_configs' in job)) continue
    delete job.kubernetes_sd_configs
    job.static_configs = [{ targets: [] }]
  }
  writeFileSync(join(root, 'prometheus.yml'), stringify(config))
  const check = await promtool('check', 'config', join(root, 'prometheus.yml'))
  t.equal(check.code, 0, check.output)
  t.match(check.output, `SUCCESS: ${rules.length} rules found`)
})
