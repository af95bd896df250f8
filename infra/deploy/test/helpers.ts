import { readFileSync } from 'node:fs'
import { join, posix } from 'node:path'
import { parse, parseAllDocuments } from 'yaml'
import type { TObject } from 'typebox'
import type { ServiceName } from '@commerce/kit'
import { configSchema as batchWorkerSchema } from '../../../services/batch-worker/src/config.ts'
import { configSchema as couponApiSchema } from '../../../services/coupon-api/src/config.ts'
import { configSchema as eventApplySchema } from '../../../services/event-apply/src/config.ts'
import { configSchema as userApiSchema } from '../../../services/user-api/src/config.ts'
import { repoRoot } from '../src/topology.ts'

export const readRepoFile = (path: string) => readFileSync(join(repoRoot, path), 'utf8')

/** Each service's config schema: the only source of the setting names a deployment may use. */
export const configSchemas: Record<ServiceName, TObject> = {
  'user-api': userApiSchema,
  'coupon-api': couponApiSchema,
  'event-apply': eventApplySchema,
  'batch-worker': batchWorkerSchema,
}

/** Names a schema accepts, and those it requires with no default (a deployment must set them). */
export const acceptedNames = (schema: TObject) => Object.keys(schema.properties)
export function requiredWithoutDefault(schema: TObject): string[] {
  return (schema.required ?? []).filter((name) => (schema.properties[name] as { default?: unknown }).default === undefined)
}

// ---- processes: one container of the image, whatever file it came from ----------------------

/** One process the image runs: where it starts, what it runs, with which settings. */
export interface ImageProcess {
  /** e.g. `compose service user-api` or `k8s Deployment/user-api` */
  origin: string
  workingDir: string
  /** argv; a `sh -c` script is one element */
  command: string[]
  /** name → literal value, or undefined when it comes from a Secret */
  env: Record<string, string | undefined>
  /** Secret keys the env reads: name → key */
  secretRefs: Record<string, string>
  ports: number[]
}

export const appImage = 'no-redis-commerce'
export const isAppImage = (image: unknown) => typeof image === 'string' && (image.startsWith(`${appImage}:`) || image.includes('COMMERCE_IMAGE'))

/** The `.ts` or `.js` scripts a command runs (direct argv or inside a `sh -c` script), relative to the working dir. */
export function scriptsOf(command: readonly string[]): string[] {
  return command.flatMap(
    (argument) => argument.match(/(?:^|\s|")((?:\.{1,2}\/|[\w-]+\/)[\w./-]*\.[jt]s)\b/g)?.map((match) => match.replace(/^[\s"]/, '')) ?? [],
  )
}

/** The source a compiled script is built from (`dist/x/y.js` ← `src/x/y.ts`, tsconfig.build.json); a source maps to itself. */
export const sourceOf = (script: string) => script.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts')

/** Which service's settings a process reads, from the script it runs; undefined for the migrate job. */
export function serviceOf(process: ImageProcess): ServiceName | undefined {
  const match = /\/services\/([\w-]+)$/.exec(process.workingDir)
  return match ? (match[1] as ServiceName) : undefined
}

/** Resolves a path inside the image (/app/...) to the repo path it was copied from. */
export const repoPathOf = (imagePath: string) => posix.relative('/app', imagePath)

// ---- Compose ---------------------------------------------------------------------------------

export const composeFile = 'infra/compose/docker-compose.yml'
export interface ComposeService {
  image?: string
  profiles?: string[]
  working_dir?: string
  command?: string[]
  environment?: Record<string, string | number | boolean>
  depends_on?: Record<string, { condition: string }>
  deploy?: { replicas?: number }
  healthcheck?: { test: string[] }
  volumes?: string[]
  ports?: string[]
}
export function loadCompose(): { services: Record<string, ComposeService>; volumes?: Record<string, unknown> } {
  // merge: compose files use `<<: *anchor` merge keys.
  return parse(readRepoFile(composeFile), { merge: true })
}

/** Values of `.env.example`: what a user's `.env` provides for `${NAME}` interpolation. */
export function readEnvFile(path: string): Record<string, string> {
  const entries = readRepoFile(path)
    .split('\n')
    .filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const)
  return Object.fromEntries(entries)
}

/** Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?error}` interpolation, as `docker compose config` does it. */
export function interpolate(value: string, variables: Record<string, string>): string {
  return value.replace(/\$\{([A-Z_][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (_whole, name: string, operator: string | undefined, argument: string | undefined) => {
    const value = variables[name]
    if (value !== undefined && value !== '') return value
    if (operator?.endsWith('?')) throw new Error(`compose: ${name} is required: ${argument}`)
    return operator?.endsWith('-') ? (argument ?? '') : ''
  })
}

export function composeProcesses(): ImageProcess[] {
  const variables = readEnvFile('infra/compose/.env.example')
  return Object.entries(loadCompose().services)
    .filter(([, service]) => isAppImage(service.image))
    .map(([name, service]) => {
      const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([key, value]) => [key, interpolate(String(value), variables)]))
      return {
        origin: `compose service ${name}`,
        workingDir: service.working_dir ?? '',
        command: (service.command ?? []).map((argument) => interpolate(argument, variables)),
        env,
        secretRefs: {},
        ports: env.PORT ? [Number(env.PORT)] : [],
      }
    })
}

// ---- Kubernetes ------------------------------------------------------------------------------

/** A parsed YAML mapping, read in the shape each check expects (the manifests carry no types). */
// biome-ignore lint/suspicious/noExplicitAny: parsed YAML of any shape
type Manifest = Record<string, any>

export interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name?: string; generateName?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
  spec: Manifest
  file: string
}

export const kustomizationFile = 'infra/k8s/base/kustomization.yaml'
/** Manifests outside the kustomization, applied by hand (`kubectl create -f`). */
export const standaloneManifests = ['infra/k8s/batch-run/job.yaml']

export function loadKustomization(): {
  namespace: string
  resources: string[]
  configMapGenerator: { name: string; files: string[] }[]
  secretGenerator: { name: string; envs: string[] }[]
} {
  return parse(readRepoFile(kustomizationFile))
}

export function loadManifests(): K8sObject[] {
  const files = [...loadKustomization().resources.map((resource) => posix.join('infra/k8s/base', resource)), ...standaloneManifests]
  return files.flatMap((file) =>
    parseAllDocuments(readRepoFile(file)).map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]?.message}`)
      return { ...(document.toJS() as Omit<K8sObject, 'file'>), file }
    }),
  )
}

/** The pod spec of a workload (Deployment, Job, CronJob). */
export function podSpecOf(object: K8sObject): Manifest | undefined {
  if (object.kind === 'CronJob') return object.spec.jobTemplate.spec.template.spec
  if (object.kind === 'Deployment' || object.kind === 'Job') return object.spec.template.spec
  return undefined
}
export function podTemplateOf(object: K8sObject): Manifest | undefined {
  if (object.kind === 'CronJob') return object.spec.jobTemplate.spec.template
  if (object.kind === 'Deployment' || object.kind === 'Job') return object.spec.template
  return undefined
}

export const objectName = (object: K8sObject) => `${object.kind}/${object.metadata.name ?? object.metadata.generateName}`

export function k8sProcesses(): ImageProcess[] {
  return loadManifests().flatMap((object) =>
    (podSpecOf(object)?.containers ?? [])
      .filter((container: { image: string }) => isAppImage(container.image))
      .map((container: Manifest) => {
        const env: Record<string, string | undefined> = {}
        const secretRefs: Record<string, string> = {}
        for (const variable of container.env ?? []) {
          env[variable.name] = variable.value
          const key = variable.valueFrom?.secretKeyRef?.key
          if (key) secretRefs[variable.name] = key
        }
        return {
          origin: `k8s ${objectName(object)} (${object.file})`,
          workingDir: container.workingDir ?? '',
          command: [...(container.command ?? []), ...(container.args ?? [])],
          env,
          secretRefs,
          ports: (container.ports ?? []).map((port: { containerPort: number }) => port.containerPort),
        }
      }),
  )
}

/** Values for the k8s Secret's keys, from the committed example. */
export const k8sSecretExample = () => readEnvFile('infra/k8s/base/secrets.env.example')

// ---- nginx -----------------------------------------------------------------------------------

/** `server host:port …;` entries of each upstream block of a rendered nginx config. */
export function nginxUpstreams(config: string): Record<string, { host: string; port: number }[]> {
  const upstreams: Record<string, { host: string; port: number }[]> = {}
  for (const [, name, body] of config.matchAll(/upstream (\w+) \{([^}]*)\}/g)) {
    upstreams[name!] = [...body!.matchAll(/^\s*server ([\w.-]+):(\d+)\b/gm)].map(([, host, port]) => ({ host: host!, port: Number(port) }))
  }
  return upstreams
}

/** The upstream block that proxies to a service (user-api → user_api). */
export const upstreamName = (service: ServiceName) => service.replace('-', '_')

// ---- Prometheus ------------------------------------------------------------------------------

/** The metric names a PromQL expression reads: identifiers that are not functions, labels or keywords. */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
  return [...stripped.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)]
    .map(([, name]) => name!)
    .filter((name) => !['and', 'or', 'unless', 'bool', 'offset'].includes(name) && !/^\d/.test(name))
}
