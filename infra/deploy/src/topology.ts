import { fileURLToPath } from 'node:url'
import type { ServiceName } from '@commerce/kit'

/** The repository root (this file is infra/deploy/src/topology.ts). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))

/**
 * The port each service listens on inside its container or pod (its PORT setting). Every replica
 * has its own network address there, so replicas of one service share one port; the numbers
 * differ per service only so a mix-up between two services shows up as a wrong port.
 */
export const servicePorts: Record<ServiceName, number> = {
  'user-api': 3001,
  'coupon-api': 3002,
  'event-apply': 3003,
  'batch-worker': 3004,
}

/** The services nginx routes public traffic to (batch-worker only gets /ops/ calls). */
export const apiServices = ['user-api', 'coupon-api', 'event-apply'] as const satisfies readonly ServiceName[]

/** nginx's own listen port in the deployed topologies (unprivileged: no port below 1024). */
export const nginxPort = 8080

/** The Kubernetes namespace of infra/k8s; nginx needs fully qualified names (no search domains). */
export const k8sNamespace = 'commerce'

/** The headless Service that lists a service's ready pods for nginx (one DNS A record per pod). */
export const k8sPodsServiceName = (service: ServiceName) => `${service}-pods`
