import t from 'tap'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { baseConfigProperties, type ServiceName } from '@commerce/kit'
import { renderTemplate } from '@commerce/local/nginx'
import { deployTargets, renderDeployedNginxConfig, renderedNginxFile, upstreamHost } from '../src/nginx.ts'
import { apiServices, k8sNamespace, k8sPodsServiceName, nginxPort, servicePorts } from '../src/topology.ts'
import {
  composeProcesses,
  k8sProcesses,
  loadCompose,
  loadKustomization,
  loadManifests,
  nginxUpstreams,
  objectName,
  podSpecOf,
  podTemplateOf,
  readRepoFile,
  serviceOf,
  upstreamName,
  type K8sObject,
} from './helpers.ts'

const services = Object.keys(servicePorts) as ServiceName[]

t.test('the committed nginx configs are the shared template, rendered', async (t) => {
  for (const target of deployTargets) {
    t.equal(
      readFileSync(renderedNginxFile[target], 'utf8'),
      renderDeployedNginxConfig(target),
      `${target}: run \`pnpm --filter @commerce/deploy render:nginx\` after changing the template`,
    )
  }
  // Rendering fails loudly rather than leaving a placeholder empty.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: an nginx template placeholder
  t.throws(() => renderTemplate('listen ${LISTEN};', {}), /no value for LISTEN/)
})

t.test('Compose: nginx upstreams name each service on the port it listens on', async (t) => {
  const upstreams = nginxUpstreams(readRepoFile('infra/compose/nginx/nginx.conf'))
  const listening = new Map(
    composeProcesses()
      .filter((process) => process.ports.length > 0)
      .map((process) => [serviceOf(process), process.ports[0]]),
  )
  for (const service of services) {
    t.same(upstreams[upstreamName(service)], [{ host: service, port: listening.get(service) }], `${service}: upstream = compose service name and its PORT`)
  }
  t.match(readRepoFile('infra/compose/nginx/nginx.conf'), new RegExp(`listen 0\\.0\\.0\\.0:${nginxPort};`))
})

t.test('Compose: the shape the issue asks for', async (t) => {
  const { services: compose, volumes } = loadCompose()
  const mariadb = compose.mariadb!
  t.ok(mariadb.healthcheck, 'MariaDB has a healthcheck')
  t.ok(
    mariadb.volumes?.some((volume) => volume.endsWith(':/var/lib/mysql') && Object.keys(volumes ?? {}).includes(volume.split(':')[0]!)),
    'MariaDB keeps its data in a named volume',
  )
  t.ok((mariadb as { command?: string[] }).command?.includes('--innodb-flush-log-at-trx-commit=1'), 'every commit is durable')
  t.same(compose.migrate!.depends_on, { mariadb: { condition: 'service_healthy' } }, 'migrate waits for a healthy database')
  for (const name of [...apiServices, 'batch-worker', 'batch-run']) {
    t.same(compose[name]!.depends_on?.migrate, { condition: 'service_completed_successfully' }, `${name} waits for the migrate job`)
  }
  for (const name of apiServices) t.equal(compose[name]!.deploy?.replicas, 2, `${name}: 2 replicas`)
  t.same(compose['batch-run']!.profiles, ['batch'], 'one-shot batch runs sit behind the `batch` profile')
  t.notOk(compose['batch-worker']!.profiles, 'the batch-worker daemon runs by default')
  for (const [name, service] of Object.entries(compose)) {
    // --scale needs replicas without fixed host ports or container names.
    if ((service.deploy?.replicas ?? 1) > 1 || name === 'batch-run')
      t.notOk(service.ports ?? (service as { container_name?: string }).container_name, `${name} can be scaled`)
  }
  t.ok(compose.nginx!.volumes?.includes('./nginx/nginx.conf:/etc/nginx/commerce.conf:ro'), 'nginx mounts the rendered config')
  t.match((compose.nginx as { command: string[] }).command.join(' '), /-c \/etc\/nginx\/commerce\.conf/, 'nginx runs that config')
  const secrets = readRepoFile('infra/compose/docker-compose.yml').match(/(AUTH_SECRET|PASSWORD): (?!\$\{)/g)
  t.same(secrets, null, 'no secret value is written in the compose file')
  t.match(readRepoFile('infra/compose/.gitignore'), /^\.env$/m, 'the real .env is never committed')
})

const byKind = (objects: K8sObject[], kind: string) => objects.filter((object) => object.kind === kind)
const find = (objects: K8sObject[], kind: string, name: string) => objects.find((object) => object.kind === kind && object.metadata.name === name)

t.test('Kubernetes: Services, nginx upstreams and container ports agree', async (t) => {
  const objects = loadManifests()
  const upstreams = nginxUpstreams(readRepoFile('infra/k8s/base/nginx/nginx.conf'))
  t.equal(loadKustomization().namespace, k8sNamespace, 'nginx resolves names in the namespace the kustomization deploys to')
  for (const service of services) {
    const deployment = find(objects, 'Deployment', service)
    t.ok(deployment, `Deployment/${service}`)
    if (!deployment) continue
    const labels = podTemplateOf(deployment)!.metadata.labels as Record<string, string>
    const [container] = podSpecOf(deployment)!.containers
    const containerPort = container.ports.find((port: { name: string }) => port.name === 'http').containerPort as number
    t.equal(String(containerPort), container.env.find((variable: { name: string }) => variable.name === 'PORT').value, `${service}: containerPort = PORT`)
    for (const name of [service, k8sPodsServiceName(service)]) {
      const kubeService = find(objects, 'Service', name)
      t.ok(kubeService, `Service/${name}`)
      if (!kubeService) continue
      t.ok(
        Object.entries(kubeService.spec.selector as Record<string, string>).every(([key, value]) => labels[key] === value),
        `Service/${name} selects ${service}'s pods`,
      )
      const [port] = kubeService.spec.ports
      t.ok(port.targetPort === 'http' || port.targetPort === containerPort, `Service/${name} targets the container port`)
      t.equal(port.port, containerPort)
    }
    t.equal(find(objects, 'Service', k8sPodsServiceName(service))?.spec.clusterIP, 'None', 'nginx resolves a headless Service: one record per pod')
    t.same(upstreams[upstreamName(service)], [{ host: upstreamHost('k8s', service), port: containerPort }], `${service}: nginx upstream`)
    t.equal(upstreamHost('k8s', service), `${k8sPodsServiceName(service)}.${k8sNamespace}.svc.cluster.local`)
  }
  const nginx = find(objects, 'Deployment', 'nginx')!
  t.equal(podSpecOf(nginx)!.containers[0].ports[0].containerPort, nginxPort, 'nginx container listens where its config says')
  const nginxVolume = podSpecOf(nginx)!.volumes.find((volume: { configMap?: unknown }) => volume.configMap)
  t.ok(
    loadKustomization().configMapGenerator.some(
      (generator) => generator.name === nginxVolume.configMap.name && generator.files.includes('nginx.conf=nginx/nginx.conf'),
    ),
    'nginx mounts the rendered config',
  )
})

t.test('Kubernetes: autoscaling, disruption budgets, grace periods, resources, secrets', async (t) => {
  const objects = loadManifests()
  const shutdownGraceS = 10 // kit's SHUTDOWN_GRACE_MS default, checked below against the schema
  t.equal((baseConfigProperties.SHUTDOWN_GRACE_MS as { default?: unknown }).default, shutdownGraceS * 1000)
  for (const service of apiServices) {
    const hpa = find(objects, 'HorizontalPodAutoscaler', service)
    t.equal(hpa?.spec.scaleTargetRef.name, service, `HPA/${service} scales Deployment/${service}`)
    t.ok(hpa && hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas > hpa.spec.minReplicas, `HPA/${service}: at least 2 replicas, room to grow`)
    // A Deployment's own count would be re-applied by every `kubectl apply -k`, undoing the HPA's scaling.
    t.equal(find(objects, 'Deployment', service)?.spec.replicas, undefined, `Deployment/${service} leaves its replica count to the HPA`)
    const pdb = find(objects, 'PodDisruptionBudget', service)
    t.same(pdb?.spec.selector.matchLabels, { 'app.kubernetes.io/name': service }, `PDB/${service}`)
  }
  // Each service's connection budget check (DB_MAX_REPLICAS × DB_POOL_SIZE vs max_connections) sees its real maximum.
  for (const service of [...apiServices, 'batch-worker']) {
    const deployment = find(objects, 'Deployment', service)!
    const env = (podSpecOf(deployment)?.containers[0]?.env ?? []) as { name: string; value?: string }[]
    const maximum = find(objects, 'HorizontalPodAutoscaler', service)?.spec.maxReplicas ?? deployment.spec.replicas
    t.equal(Number(env.find((entry) => entry.name === 'DB_MAX_REPLICAS')?.value), maximum, `${service}: DB_MAX_REPLICAS = its most replicas (${maximum})`)
  }
  for (const object of objects) {
    const spec = podSpecOf(object)
    if (!spec) continue
    for (const container of spec.containers) {
      t.ok(
        container.resources?.requests?.cpu && container.resources?.requests?.memory && container.resources?.limits?.memory,
        `${objectName(object)}: requests and limits`,
      )
      t.equal(container.securityContext?.allowPrivilegeEscalation, false, `${objectName(object)}: no privilege escalation`)
    }
    t.ok(spec.securityContext?.runAsNonRoot, `${objectName(object)}: not root`)
    if (object.kind === 'Deployment' || spec.terminationGracePeriodSeconds !== undefined) {
      const preStopS = Number(spec.containers[0].lifecycle?.preStop?.exec?.command?.[1] ?? 0)
      t.ok(
        (spec.terminationGracePeriodSeconds ?? 30) > shutdownGraceS + preStopS,
        `${objectName(object)}: SIGKILL only after preStop + the ${shutdownGraceS} s shutdown grace`,
      )
    }
  }
  for (const process of k8sProcesses()) {
    for (const [name, key] of Object.entries(process.secretRefs)) t.equal(key, name, `${process.origin}: ${name} comes from the Secret`)
  }
  t.ok(
    loadKustomization().secretGenerator.some((generator) => generator.name === 'commerce-secrets'),
    'the Secret commerce-secrets is generated from secrets.env',
  )
  t.match(readRepoFile('infra/k8s/base/.gitignore'), /^secrets\.env$/m, 'the real secrets.env is never committed')

  const migrate = find(objects, 'Job', 'migrate')
  t.ok(migrate, 'a migrate Job')
  const cron = find(objects, 'CronJob', 'batch-monthly')
  t.equal(cron?.spec.schedule, '30 0 1 * *', 'the monthly run fires on the 1st')
  t.ok(cron && cron.spec.jobTemplate.spec.parallelism > 1, 'the CronJob runs several workers in parallel')
  t.equal(cron?.spec.concurrencyPolicy, 'Forbid')
  const oneOff = byKind(objects, 'Job').find((job) => job.metadata.generateName === 'batch-run-')
  t.ok(oneOff && oneOff.spec.parallelism > 1, 'a one-off batch Job with parallelism')
})

t.test('Prometheus scrapes each service on the port it listens on', async (t) => {
  const compose = parse(readRepoFile('infra/observability/prometheus/compose.yml')) as {
    scrape_configs: { job_name: string; metrics_path: string; dns_sd_configs: { names: string[]; port: number }[] }[]
  }
  for (const service of services) {
    const job = compose.scrape_configs.find((config) => config.job_name === service)
    t.same(
      job?.dns_sd_configs[0],
      { names: [service], type: 'A', port: servicePorts[service], refresh_interval: '10s' },
      `${service} scraped on ${servicePorts[service]}`,
    )
    t.equal(job?.metrics_path, '/metrics')
  }
  for (const object of loadManifests()) {
    const template = podTemplateOf(object)
    const annotations = template?.metadata?.annotations as Record<string, string> | undefined
    if (annotations?.['prometheus.io/scrape'] !== 'true') continue
    const port = Number(annotations['prometheus.io/port'])
    t.ok(
      template!.spec.containers[0].ports.some((entry: { containerPort: number }) => entry.containerPort === port),
      `${objectName(object)}: scraped on its container port`,
    )
  }
})
