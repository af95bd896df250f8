import t, { type Test } from 'tap'
import { createTestDatabase } from '@commerce/db/testing'
import { testEnv } from '@commerce/kit/testing'
import type { ServiceApp, ServiceName } from '@commerce/kit'
import { buildApp as buildBatchWorker } from '@commerce/batch-worker'
import { buildApp as buildCouponApi } from '@commerce/coupon-api'
import { buildApp as buildEventApply } from '@commerce/event-apply'
import { buildApp as buildUserApi } from '@commerce/user-api'
import { loadConfig } from '@commerce/kit'
import { parse } from 'yaml'
import { configSchemas, loadCompose, loadManifests, metricNamesIn, podSpecOf, podTemplateOf, objectName, readRepoFile } from './helpers.ts'
import { servicePorts } from '../src/topology.ts'

const builders = {
  'user-api': buildUserApi,
  'coupon-api': buildCouponApi,
  'event-apply': buildEventApply,
  'batch-worker': buildBatchWorker,
} as Record<ServiceName, (options: { config: never; logger: false }) => Promise<ServiceApp>>

/** Every service built against one fresh database (no schedules, so nothing runs in the background). */
async function buildApps(t: Test): Promise<Record<ServiceName, ServiceApp>> {
  const databaseUrl = await createTestDatabase(t)
  const env = testEnv(databaseUrl, { BATCH_SCHEDULE_ENABLED: 'false', EVENT_SCHEDULE_ENABLED: 'false' })
  const apps = {} as Record<ServiceName, ServiceApp>
  for (const service of Object.keys(builders) as ServiceName[]) {
    const app = await builders[service]({ config: loadConfig(configSchemas[service], env) as never, logger: false })
    t.teardown(() => app.close())
    await app.ready()
    apps[service] = app
  }
  return apps
}

/** Metric names an app exposes: the `# TYPE` lines of its /metrics. */
async function exposedMetrics(app: ServiceApp): Promise<Map<string, string>> {
  const text = (await app.inject('/metrics')).body
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => [name!, type!]))
}

t.test('PromQL metric extraction', async (t) => {
  t.same(metricNamesIn('histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket{service=~"$service"}[1m])))'), [
    'http_request_duration_seconds_bucket',
  ])
  t.same(metricNamesIn('sum(rate(a_sum[1m])) / sum(rate(a_count[1m]))'), ['a_sum', 'a_count'])
  t.same(metricNamesIn('event_apply_buffer_rows'), ['event_apply_buffer_rows'])
})

t.test('against the real apps', async (t) => {
  const apps = await buildApps(t)
  const hasGet = (service: ServiceName, url: string) => apps[service].hasRoute({ method: 'GET', url })

  t.test('Kubernetes probes point at routes the service has', async (t) => {
    let probes = 0
    for (const object of loadManifests()) {
      const spec = podSpecOf(object)
      const service = podTemplateOf(object)?.metadata.labels?.['app.kubernetes.io/name'] as ServiceName
      if (!spec || !(service in builders)) continue
      const [container] = spec.containers
      t.same(
        [container.readinessProbe?.httpGet?.path, container.livenessProbe?.httpGet?.path],
        ['/ready', '/health'],
        `${objectName(object)}: readiness /ready, liveness /health`,
      )
      for (const probe of [container.readinessProbe, container.livenessProbe]) {
        t.ok(hasGet(service, probe.httpGet.path), `${service} answers GET ${probe.httpGet.path}`)
        t.equal(probe.httpGet.port, 'http', 'the probe uses the named container port')
        probes += 1
      }
    }
    t.equal(probes, 8, 'both probes of the three APIs and the batch-worker daemon')
  })

  t.test('Compose healthchecks call routes the service has, on its PORT', async (t) => {
    const { services } = loadCompose()
    for (const service of Object.keys(builders) as ServiceName[]) {
      const test = services[service]?.healthcheck?.test.join(' ') ?? ''
      const url = /http:\/\/127\.0\.0\.1:(\d+)(\/\w+)/.exec(test)
      t.ok(url, `${service} has an HTTP healthcheck`)
      if (!url) continue
      t.equal(Number(url[1]), Number(services[service]!.environment?.PORT), `${service}: healthcheck port = PORT`)
      t.equal(Number(url[1]), servicePorts[service])
      t.ok(hasGet(service, url[2]!), `${service} answers GET ${url[2]}`)
    }
  })

  t.test('Prometheus scrapes a route every service has', async (t) => {
    const prometheus = parse(readRepoFile('infra/observability/prometheus/compose.yml')) as {
      scrape_configs: { job_name: ServiceName; metrics_path: string }[]
    }
    for (const job of prometheus.scrape_configs) t.ok(hasGet(job.job_name, job.metrics_path), `${job.job_name} answers GET ${job.metrics_path}`)
    t.notOk(hasGet('user-api', '/metric'), 'a wrong path would be caught')
  })

  t.test('every metric the dashboard reads is one the services expose', async (t) => {
    const exposed = new Map<string, string>()
    for (const app of Object.values(apps)) for (const [name, type] of await exposedMetrics(app)) exposed.set(name, type)
    const known = (name: string) => {
      if (exposed.has(name)) return true
      // Histograms are exposed as <name>_bucket, _sum and _count under one `# TYPE <name> histogram`.
      const base = name.replace(/_(bucket|sum|count)$/, '')
      return base !== name && ['histogram', 'summary'].includes(exposed.get(base) ?? '')
    }
    const dashboard = JSON.parse(readRepoFile('infra/observability/grafana/dashboards/commerce.json')) as {
      panels: { title: string; type: string; targets?: { expr: string }[] }[]
      templating: { list: { query: { query: string } }[] }
    }
    const panels = dashboard.panels.filter((panel) => panel.type !== 'row')
    t.ok(panels.length >= 12, `${panels.length} panels`)
    for (const panel of panels) {
      t.ok(panel.targets?.length, `${panel.title}: has queries`)
      for (const { expr } of panel.targets ?? []) {
        const names = metricNamesIn(expr)
        t.ok(names.length > 0, `${panel.title}: reads a metric`)
        for (const name of names) t.ok(known(name), `${panel.title}: ${name} is exposed`)
      }
    }
    for (const variable of dashboard.templating.list) {
      for (const name of metricNamesIn(variable.query.query.replace(/^label_values\(([^,]+),.*$/, '$1'))) t.ok(known(name), `variable: ${name} is exposed`)
    }
    // What the issue asks the dashboard to show, by the metrics that carry it.
    const allExprs = panels
      .flatMap((panel) => panel.targets ?? [])
      .map(({ expr }) => expr)
      .join('\n')
    for (const name of [
      'http_request_duration_seconds_bucket',
      'http_errors_total',
      'nodejs_eventloop_lag_p99_seconds',
      'batch_targets_done_total',
      'batch_lease_takeovers_total',
      'batch_fencing_rejections_total',
      'event_apply_buffer_rows',
      'event_apply_flush_rows_bucket',
      'event_apply_flushes_total',
      'event_apply_applications_total',
      'coupon_redemptions_deferred_total',
      'batch_pacing_level',
    ]) {
      t.ok(allExprs.includes(name), `the dashboard shows ${name}`)
    }
    t.notOk(known('http_request_duration_second_bucket'), 'a misspelt metric would be caught')
  })
})
