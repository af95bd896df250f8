import { createHash } from 'node:crypto'
import { createMembership, type LoadSummary } from '@commerce/cluster'
import { createPool, type Pool } from '@commerce/db'
import { startPruneEveryBeatMember } from '../baselines/prune-every-beat.ts'
import { summarize, type LatencySummary } from '../stats.ts'

// Simulated members for `npm run bench -- members`, forked with IPC: `count` members of the given
// services heartbeating through the real cluster package (`oldest-prunes`) or the baseline that
// prunes on every beat, all on one pool. On 'mark' it starts counting; on 'report' it sends what
// it counted since, stops every member (their rows deleted) and exits.

export type PruneMode = 'oldest-prunes' | 'prune-every-beat'

export interface MembersProbeConfig {
  url: string
  mode: PruneMode
  /** One service name per member. */
  services: string[]
  heartbeatMs: number
  loadEveryMs: number
}

export interface MembersProbeReport {
  /** Statements the members sent since the mark, and their latency (ms, pool wait included). */
  statements: number
  latency: LatencySummary
  failed: number
  /** Changes of a member's view of its service (members or their order) since the mark, over all members. */
  viewChanges: number
  /** Each member's service and a digest of its last view: members that agree share a digest. */
  views: { service: string; digest: string }[]
}

/** An API replica under steady traffic: every member reports this at the services' interval. */
const busyReplica: LoadSummary = { p99Us: 5_000, rps: 100, counts: '12:100' }

/** The pool, timing every query its members send (the members see a plain pool). */
function timed(pool: Pool, counted: { ms: number[]; failed: number }): Pool {
  const query = (async (...args: unknown[]) => {
    const started = performance.now()
    try {
      return await (pool.query as (...a: unknown[]) => Promise<unknown>)(...args)
    } catch (error) {
      counted.failed++
      throw error
    } finally {
      counted.ms.push(performance.now() - started)
    }
  }) as Pool['query']
  return new Proxy(pool, { get: (target, key) => (key === 'query' ? query : Reflect.get(target, key)) })
}

const config = JSON.parse(process.argv[2] ?? '') as MembersProbeConfig
const send = (message: unknown) => process.send?.(message)
// The API replicas' session settings; but this process hosts hundreds of members where a replica
// hosts one, so its queue is unbounded: a full queue would be this simulation's limit, not theirs.
const pool = createPool({ url: config.url, role: 'api', connectionLimit: 16, queueLimit: 0 })
const counted = { ms: [] as number[], failed: 0 }
let viewChanges = 0
const lastViews: { service: string; view: string }[] = []
const memberPool = timed(pool, counted)

const members = await Promise.all(
  config.services.map(async (service, index) => {
    lastViews[index] = { service, view: '' }
    const seen = (ids: string[]) => {
      const view = createHash('sha1').update(ids.join()).digest('base64')
      if (view !== lastViews[index]!.view) viewChanges++
      lastViews[index]!.view = view
    }
    if (config.mode === 'prune-every-beat') {
      return startPruneEveryBeatMember({
        pool: memberPool,
        service,
        heartbeatMs: config.heartbeatMs,
        load: { summary: busyReplica, everyMs: config.loadEveryMs },
        onView: seen,
      })
    }
    const member = createMembership({
      pool: memberPool,
      service,
      heartbeatMs: config.heartbeatMs,
      host: 'sim',
      load: { summary: () => busyReplica, everyMs: config.loadEveryMs },
      onChange: (view) => seen(view.members),
      log: { warn: () => undefined },
    })
    await member.start()
    return member
  }),
)
send({ type: 'started' })

process.on('message', async (message: { type: string }) => {
  if (message.type === 'mark') {
    counted.ms.length = 0
    counted.failed = 0
    viewChanges = 0
    send({ type: 'marked' })
  }
  if (message.type === 'report') {
    const views = lastViews.map(({ service, view }) => ({ service, digest: view }))
    const report: MembersProbeReport = { statements: counted.ms.length, latency: summarize(counted.ms), failed: counted.failed, viewChanges, views }
    await Promise.all(members.map((member) => member.stop()))
    await pool.end()
    send({ type: 'report', report })
    process.disconnect()
  }
})
