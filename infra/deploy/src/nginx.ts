import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ServiceName } from '@commerce/kit'
import { nginxTemplateFile, renderTemplate, serversPlaceholder, upstreamServers } from '@commerce/local/nginx'
import { k8sNamespace, k8sPodsServiceName, nginxPort, repoRoot, servicePorts } from './topology.ts'

export const deployTargets = ['compose', 'k8s'] as const
export type DeployTarget = (typeof deployTargets)[number]

/** Where each target's rendered config is committed (compose mounts it, kustomize builds a ConfigMap of it). */
export const renderedNginxFile: Record<DeployTarget, string> = {
  compose: join(repoRoot, 'infra/compose/nginx/nginx.conf'),
  k8s: join(repoRoot, 'infra/k8s/base/nginx/nginx.conf'),
}

/** Where nginx writes its pid, error log and temp files in the container: writable for a non-root user. */
export const containerNginxPrefix = '/tmp/nginx'

/**
 * The DNS server nginx asks again every few seconds. Replicas come and go (`--scale`, the HPA, a
 * rolling update) with new addresses; `resolve` on the server line makes nginx follow the name's
 * current A records (one per replica) instead of the addresses it saw at start-up.
 */
const resolver: Record<DeployTarget, string> = {
  // Docker's embedded DNS on every user-defined network.
  compose: '127.0.0.11',
  k8s: 'kube-dns.kube-system.svc.cluster.local',
}

/** The DNS name that lists every replica of a service on that target. */
export function upstreamHost(target: DeployTarget, service: ServiceName): string {
  return target === 'compose' ? service : `${k8sPodsServiceName(service)}.${k8sNamespace}.svc.cluster.local`
}

/**
 * The local stack's template rendered for a container. Two differences from the local stack, both
 * made here rather than in the template: the upstreams are DNS names re-resolved at run time, and
 * nginx stays in the foreground (`daemon off`), because a container ends when its first process
 * does (`nginx -g 'daemon off;'` would clash with the template's own `daemon on;`).
 */
export function renderDeployedNginxConfig(target: DeployTarget): string {
  const values: Record<string, string> = { PREFIX: containerNginxPrefix, LISTEN: `0.0.0.0:${nginxPort}` }
  for (const [service, placeholder] of Object.entries(serversPlaceholder) as [ServiceName, string][]) {
    const server = upstreamServers([`${upstreamHost(target, service)}:${servicePorts[service]} resolve`])
    values[placeholder] = `resolver ${resolver[target]} valid=5s ipv6=off;\n        ${server}`
  }
  const rendered = renderTemplate(readFileSync(nginxTemplateFile, 'utf8'), values)
  const daemonOn = /^daemon on;$/m
  if (!daemonOn.test(rendered)) throw new Error(`${nginxTemplateFile} no longer says \`daemon on;\`: update the foreground switch in infra/deploy/src/nginx.ts`)
  const header = `# Rendered from infra/nginx/nginx.conf.template for ${target} by \`pnpm --filter @commerce/deploy render:nginx\`; edit the template, not this file.\n`
  return header + rendered.replace(daemonOn, 'daemon off;')
}
