import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { createCrowd } from '@commerce/local/clients'
import { auditEvent, formatAudit, type AuditCheck } from '@commerce/audit'
import { poolRoles, type RowDataPacket } from '@commerce/db'
import { drawSettleMs } from '@commerce/domain'
import { applicantAuthorization, createEventThrough } from '@commerce/local/flood'
import { localAuthSecret } from '@commerce/local/secret'
import { requireCommand, waitFor } from '@commerce/local/process'
import type { Marker } from '../charts.ts'
import {
  auditCase,
  caseCharts,
  clientFigures,
  formatFigures,
  replicaCounter,
  routedTo,
  seededRandom,
  startTraffic,
  type FaultBed,
  type TrafficOutcome,
} from './bed.ts'
import { finish, held, withBed, type FaultCaseResult, type FaultContext, type Held } from './cases.ts'

// Fault cases 9 and 10, on a first-come event of their own (a small quota, so the ranking
// matters; or a large one, so every 201 must win) beside the bed's traffic. Each ends with
// auditCase for the traffic and auditEvent for its event.

/** The bed's traffic must be stopped before its audit; this case's event is audited with it. */
async function auditWithEvent(bed: FaultBed, outcome: TrafficOutcome, eventId: number, acknowledged: string[]) {
  const traffic = await auditCase(bed, outcome, { batch: false })
  const event = await auditEvent(bed.pool, { eventId, acknowledged, expectDrawn: true })
  const checks: AuditCheck[] = [...traffic.checks, ...event.checks.map((c) => ({ ...c, name: `event ${eventId}: ${c.name}` }))]
  const result = { ok: checks.every((c) => c.ok), checks }
  return { ...result, text: formatAudit(result) }
}

const auditHeld = (audit: { checks: AuditCheck[] }, pattern: RegExp, what: string): Held => {
  const checks = audit.checks.filter((c) => pattern.test(c.name))
  return held(what, checks.length > 0 && checks.every((c) => c.ok), checks.map((c) => `${source(c.name)}: ${c.detail}`).join('; '))
}

/** Which writes an audit check is about: the traffic's orders or redemptions, its event, or the case's event. */
const source = (check: string) =>
  check.startsWith('event ') ? 'case event' : (/order|redemption/.exec(check)?.[0] ?? "traffic's event").replace(/^(order|redemption)$/, 'traffic $1s')

/** Wall-clock ms from the monotonic clock, as the replicas read theirs: the client's instants. */
const wallNow = () => performance.timeOrigin + performance.now()

/** libfaketime's offset units, in seconds. */
const fakeTimeUnits: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400, y: 31_536_000 }

/**
 * The launcher that runs one process `skewMs` ahead of everything else. When the suite itself
 * runs under libfaketime (npm test -- --at), every process already has FAKETIME=+Ns: the skewed
 * one gets N + skew. `env` with libfaketime preloaded, not the faketime wrapper: the wrapper
 * forks and does not pass SIGTERM on, so stopping the replica would end in a SIGKILL.
 */
export function skewedClockLauncher(skewMs: number, env: NodeJS.ProcessEnv = process.env): string[] {
  requireCommand('faketime', 'faketime')
  let baseSeconds = 0
  if (env.FAKETIME) {
    const offset = /^([+-]\d+(?:\.\d+)?)([smhdy]?)$/.exec(env.FAKETIME.trim())
    if (!offset) throw new Error(`FAKETIME="${env.FAKETIME}" is not an offset (+Ns/-Ns): one replica cannot be skewed relative to it`)
    baseSeconds = Number(offset[1]) * fakeTimeUnits[offset[2] || 's']!
  }
  const seconds = Number((baseSeconds + skewMs / 1000).toFixed(3))
  // Debian's faketime package ships the library where its own wrapper preloads it from.
  return ['env', 'LD_PRELOAD=/usr/$LIB/faketime/libfaketime.so.1', `FAKETIME=${seconds >= 0 ? '+' : ''}${seconds}s`, 'FAKETIME_DONT_RESET=1']
}

/** One application sent by a case, with the client's instants and what it was told. */
export interface Applicant {
  sentAt: number
  answeredAt: number
  /** 0 = network error or client timeout. */
  status: number
  code?: string
  applicationId?: string
  /** The arrival stamp the 201 reported (ms since the epoch, µs in the fraction). */
  receivedAt?: number
}

/** `2027-03-01T00:05:00.123456Z` → ms since the epoch with the µs kept. */
const parseMicros = (iso: string) => Date.parse(`${iso.slice(0, 23)}Z`) + Number(iso.slice(23, 26)) / 1000

/**
 * Applications to one event through nginx, Poisson arrivals (seeded) at `rate` per second
 * between two wall-clock instants; each is sent at its time whatever the earlier ones do.
 * Resolves once every one is answered (or timed out).
 */
export async function sendApplicants(
  bed: FaultBed,
  eventId: number,
  { from, until, rate, random, label }: { from: number; until: number; rate: number; random: () => number; label: string },
): Promise<Applicant[]> {
  // Applicants are people: each from its own address, as nginx limits each address.
  const http = createCrowd(bed.stack.url, { clients: 250, connectionsEach: 1, headersTimeout: 15_000, bodyTimeout: 15_000 })
  const secret = localAuthSecret()
  const sends: Promise<Applicant>[] = []
  try {
    let at = from
    for (let i = 0; ; i++) {
      at += (-Math.log(1 - random()) / rate) * 1000
      if (at >= until) break
      const wait = at - wallNow()
      if (wait > 0) await sleep(wait)
      const phone = `010${String(10_000_000 + i).slice(-8)}`
      const sentAt = wallNow()
      sends.push(
        http
          .client(i)
          .request({
            method: 'POST',
            path: `/events/${eventId}/applications`,
            headers: { 'content-type': 'application/json', authorization: applicantAuthorization(i, secret) },
            body: JSON.stringify({ name: `${label} ${i}`, phone }),
          })
          .then(async (response): Promise<Applicant> => {
            const body = (await response.body.json().catch(() => ({}))) as { applicationId?: string; receivedAt?: string; code?: string }
            const answeredAt = wallNow()
            const stamp = response.statusCode === 201 && body.receivedAt ? { applicationId: body.applicationId, receivedAt: parseMicros(body.receivedAt) } : {}
            return { sentAt, answeredAt, status: response.statusCode, code: body.code, ...stamp }
          })
          .catch((error: { code?: string }): Applicant => ({ sentAt, answeredAt: wallNow(), status: 0, code: error.code })),
      )
    }
    return await Promise.all(sends)
  } finally {
    await http.close()
  }
}

const hex = (uuid: string) => uuid.replaceAll('-', '').toLowerCase()

/** The event's stored applications (id → replica, stamp) and its winners' ids. */
/** Stops the traffic, reads the case's event back and audits the traffic with it. */
async function endEventCase(bed: FaultBed, traffic: { stop(): Promise<TrafficOutcome> }, eventId: number, applicants: Applicant[]) {
  const outcome = await traffic.stop()
  const stored = await storedEvent(bed, eventId)
  const acknowledged = applicants.filter((a) => a.status === 201)
  const audit = await auditWithEvent(
    bed,
    outcome,
    eventId,
    acknowledged.map((a) => a.applicationId!),
  )
  return { outcome, stored, acknowledged, audit }
}

async function storedEvent(bed: FaultBed, eventId: number) {
  const [rows] = await bed.pool.query<RowDataPacket[]>(
    'SELECT LOWER(HEX(id)) AS id, LOWER(HEX(replica_id)) AS replica, UNIX_TIMESTAMP(received_at) AS received FROM event_applications WHERE event_id = ?',
    [eventId],
  )
  const [won] = await bed.pool.query<RowDataPacket[]>('SELECT LOWER(HEX(application_id)) AS id FROM event_winners WHERE event_id = ?', [eventId])
  return {
    applications: new Map(rows.map((row) => [String(row.id), { replica: String(row.replica), receivedAt: Number(row.received) * 1000 }])),
    winners: new Set(won.map((row) => String(row.id))),
  }
}

/** Asks the batch worker for the draw (admin, through nginx) until the event has settled. */
async function drawWhenSettled(bed: FaultBed, eventId: number): Promise<string> {
  let outcome: string | undefined
  await waitFor(
    `the draw of event ${eventId}`,
    async () => {
      const response = await request(`${bed.stack.url}/ops/batch-worker/events/${eventId}/draw`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bed.admin}` },
      })
      const answer = (await response.body.json()) as { outcome?: string; code?: string }
      if (response.statusCode === 200 && answer.outcome) outcome = answer.outcome
      else if (answer.code !== 'EVENT_STILL_OPEN') throw new Error(`the draw answered ${response.statusCode} ${answer.code ?? ''}`)
      return outcome !== undefined
    },
    drawSettleMs + 30_000,
    250,
  )
  return outcome!
}

/** GET one replica's /health (its port): the instance id of the process answering there. */
async function instanceAt(port: number): Promise<string | undefined> {
  const response = await request(`http://127.0.0.1:${port}/health`, { headersTimeout: 1_000, bodyTimeout: 1_000, reset: true }).catch(() => null)
  if (!response) return undefined
  const body = (await response.body.json().catch(() => ({}))) as { instanceId?: string }
  return response.statusCode === 200 ? body.instanceId : undefined
}

/** /ready of one replica with its reason: `503 clock is … off`. */
async function readyAnswer(port: number): Promise<string> {
  const response = await request(`http://127.0.0.1:${port}/ready`, { headersTimeout: 1_000, bodyTimeout: 1_000, reset: true }).catch(() => null)
  if (!response) return 'no answer'
  const body = (await response.body.json().catch(() => ({}))) as { message?: string }
  return `${response.statusCode}${body.message ? ` ${body.message}` : ''}`
}

/** A client instant and a replica's stamp agree within this (the offset's error is half a round trip). */
const clockToleranceMs = 50

// ── 9. one replica's clock skewed ─────────────────────────────────────────────────────────

/** Applications of case 9: per second, and how long they start before the opening and go on after it. */
const skewApplicants = { rate: 100, beforeMs: 500, afterMs: 2_500, quota: 50 }
/** A winner may have been sent this much after a loser (network and queueing), far below any skew worth the name. */
const orderToleranceMs = 250

export async function clockSkewCase(ctx: FaultContext, { skewMs }: { skewMs: number }): Promise<FaultCaseResult> {
  return withBed(ctx, 'faults_clock_skew', {}, async (bed) => {
    const random = seededRandom(ctx.seed)
    const traffic = startTraffic(bed, { rate: ctx.rate, label: `skew-${Date.now()}` })
    const markers: Marker[] = [{ at: traffic.now(), label: `event-apply #1 restarted ${skewMs} ms off` }]
    const skewed = bed.stack.replicas.find((r) => r.service === 'event-apply' && r.index === 1)!
    const before = skewed.instanceId
    // restartReplica resolves only once /ready answers 200, which a replica beyond
    // CLOCK_MAX_OFFSET_MS never does: the case watches the fresh process itself, and checks at
    // the end that restartReplica gave up on it (within the stack's ready timeout).
    const restart = bed.stack.restartReplica('event-apply', 1, { launcher: skewedClockLauncher(skewMs) }).then(
      () => ({ ready: true, detail: 'became ready' }),
      (error: Error) => ({ ready: false, detail: error.message }),
    )
    let fresh: string | undefined
    await waitFor(
      'the skewed event-apply #1 to answer /health',
      async () => {
        fresh = await instanceAt(skewed.port)
        return fresh !== undefined && fresh !== before
      },
      60_000,
      50,
    )
    await routedTo(bed, 'event-apply', fresh!, 'the skewed event-apply #1')
    const offsetSeconds = await replicaCounter(skewed.port, 'clock_offset_seconds')
    const ready = await readyAnswer(skewed.port)
    bed.log(`  event-apply #1 restarted ${skewMs} ms off: measured offset ${(offsetSeconds * 1000).toFixed(1)} ms, /ready ${ready}`)

    const opensAt = wallNow() + 2_000
    const closesAt = opensAt + skewApplicants.afterMs + 500
    // Far enough past the draw that the winners route can be asked half a skew either side of it.
    const announceAt = closesAt + drawSettleMs + Math.abs(skewMs) + 2_000
    const eventId = await createEventThrough(bed.stack.url, bed.admin, {
      title: 'clock skew',
      opensAt: new Date(opensAt),
      closesAt: new Date(closesAt),
      winnerQuota: skewApplicants.quota,
      announceAt: new Date(announceAt),
    })
    markers.push({ at: traffic.now() + (opensAt - wallNow()) / 1000, label: 'event opens' })
    const applicants = await sendApplicants(bed, eventId, {
      from: opensAt - skewApplicants.beforeMs,
      until: opensAt + skewApplicants.afterMs,
      rate: skewApplicants.rate,
      random,
      label: 'skew',
    })
    const draw = await drawWhenSettled(bed, eventId)
    // Half a skew before announce_at (after it, for a clock behind): the skewed replica's own
    // clock reads the other side of announce_at, so its answer shows which clock it goes by.
    const probeAt = announceAt - skewMs / 2
    await sleep(Math.max(0, probeAt - wallNow()))
    const probes = await Promise.all(
      bed.stack.replicas
        .filter((r) => r.service === 'event-apply')
        .map(async (r) => {
          const sentAt = wallNow()
          const response = await request(`http://127.0.0.1:${r.port}/events/${eventId}/winners`, { headersTimeout: 5_000, bodyTimeout: 5_000 })
          await response.body.dump()
          return { index: r.index, status: response.statusCode, fromAnnounce: sentAt - announceAt }
        }),
    )
    markers.push({ at: traffic.now(), label: 'winners asked' })
    const restarted = await restart
    const { outcome, stored, acknowledged, audit } = await endEventCase(bed, traffic, eventId, applicants)

    const skewedId = hex(fresh!)
    const onSkewed = (a: Applicant) => stored.applications.get(hex(a.applicationId!))?.replica === skewedId
    const won = (a: Applicant) => a.status === 201 && stored.winners.has(hex(a.applicationId!))
    const winners = applicants.filter(won)
    // Everyone sent after the opening who did not win: a 201 ranked below the quota, or a 410
    // because a replica already knew of a full quota's earlier applications (early close).
    const beaten = applicants.filter((a) => !won(a) && (a.status === 201 || (a.status === 410 && a.sentAt > opensAt + clockToleranceMs)))
    const latestWinner = Math.max(...winners.map((a) => a.sentAt))
    const earliestBeaten = Math.min(...beaten.map((a) => a.sentAt))
    // A 201's stamp was taken between its send and its answer, on a clock that agrees with the client's.
    const stampError = (a: Applicant) => Math.max(0, a.sentAt - a.receivedAt!, a.receivedAt! - a.answeredAt)
    const worstStamp = (list: Applicant[]) => Math.max(0, ...list.map(stampError))
    // A request in flight across the opening may go either way (it reaches a replica when it
    // does: a loaded machine delays it by more than the tolerance). Only an answer that came
    // back before the opening, or a send after it, pins the side the decision had to take.
    const acceptedEarly = acknowledged.filter((a) => a.answeredAt < opensAt - clockToleranceMs).length
    const refusedLate = applicants.filter((a) => a.code === 'EVENT_NOT_OPEN' && a.sentAt > opensAt + clockToleranceMs).length
    const notOpen = applicants.filter((a) => a.code === 'EVENT_NOT_OPEN').length
    const skewedAcks = acknowledged.filter(onSkewed)
    const skewedWinners = winners.filter(onSkewed).length
    const probeExpected = probeAt >= announceAt ? 200 : 403
    const clients = clientFigures(outcome.result.samples)
    const errors = applicants.filter((a) => a.status === 0 || a.status >= 500).length

    return finish({
      id: 9,
      name: "one replica's clock skewed by seconds during an event",
      injected: `1 × event-apply #1 restarted under libfaketime ${skewMs >= 0 ? '+' : ''}${skewMs} ms off the database and every other process, then a first-come event (quota ${skewApplicants.quota}) opened under ${applicants.length} applications around its opening`,
      injections: 1,
      held: [
        held(
          'the skewed replica measured its offset to the database clock',
          Math.abs(offsetSeconds * 1000 + skewMs) < clockToleranceMs,
          `clock_offset_seconds ${offsetSeconds.toFixed(4)} (expected ${(-skewMs / 1000).toFixed(3)})`,
        ),
        held(
          'it reported not ready, and nginx (passive checks) routed applications to it all the same',
          !restarted.ready && ready.startsWith('503') && skewedAcks.length > 0 && skewedAcks.length < acknowledged.length,
          `/ready ${ready}; restartReplica: ${restarted.detail}; 201s stamped by skewed #1 ${skewedAcks.length}, by #0 ${acknowledged.length - skewedAcks.length}`,
        ),
        held(
          `every 201's stamp lies between its send and its answer on the client's clock (±${clockToleranceMs} ms)`,
          acknowledged.length > 0 && worstStamp(acknowledged) <= clockToleranceMs,
          `furthest outside [sent, answered]: skewed #1 ${worstStamp(skewedAcks).toFixed(1)} ms, #0 ${worstStamp(acknowledged.filter((a) => !onSkewed(a))).toFixed(1)} ms`,
        ),
        held(
          'the opening was decided on the database clock by both replicas',
          acceptedEarly === 0 && refusedLate === 0 && notOpen > 0,
          `${notOpen} × 403 EVENT_NOT_OPEN; accepted though answered over ${clockToleranceMs} ms before the opening: ${acceptedEarly}; refused though sent over ${clockToleranceMs} ms after it: ${refusedLate}`,
        ),
        held(
          `winners are the earliest sent: none sent later than anyone beaten + ${orderToleranceMs} ms`,
          winners.length === skewApplicants.quota && beaten.length > 0 && latestWinner <= earliestBeaten + orderToleranceMs,
          `${winners.length} winners (skewed #1 ${skewedWinners}, #0 ${winners.length - skewedWinners}; draw ${draw}), the latest sent ${(latestWinner - opensAt).toFixed(0)} ms after the opening; ${beaten.length} beaten (${beaten.filter((a) => a.status === 201).length} × 201 ranked lower, ${beaten.filter((a) => a.status === 410).length} × 410 quota filled), the earliest sent ${(earliestBeaten - opensAt).toFixed(0)} ms after it`,
        ),
        held(
          'every replica shows the winners from announce_at on, by the database clock',
          probes.every((p) => p.status === probeExpected),
          `GET /events/${eventId}/winners ${(-skewMs / 2000).toFixed(1)} s from announce_at (expected ${probeExpected}): ${probes.map((p) => `#${p.index}${p.index === 1 ? ' (skewed)' : ''} ${p.status}`).join(', ')}`,
        ),
        auditHeld(audit, /acknowledged/, '0 acknowledged writes lost'),
        auditHeld(audit, /one application per phone/, 'one application per phone'),
        auditHeld(audit, /winners are the earliest/, 'winners are the earliest by the stored stamps (the draw recomputed)'),
      ],
      clients,
      audit: { ok: audit.ok, text: audit.text },
      notes: [
        `event-apply #1 ran ${skewMs} ms off (libfaketime) and measured clock_offset_seconds ${offsetSeconds.toFixed(4)}: it adds that to its own clock for every arrival stamp and open/close decision, so that its applicants neither gain nor lose places. Beyond CLOCK_MAX_OFFSET_MS its /ready answers 503, so an orchestrator would keep it out of rotation; the local nginx checks passively and sent it ${skewedAcks.length} of the event's ${acknowledged.length} accepted applications.`,
        `Applicants: ${applicants.length} sent at ~${skewApplicants.rate}/s from ${skewApplicants.beforeMs} ms before the opening to ${skewApplicants.afterMs} ms after it: ${acknowledged.length} × 201, ${notOpen} × 403 not open, ${applicants.filter((a) => a.status === 410).length} × 410 (each replica closes early from memory once it knows of ${skewApplicants.quota} committed applications), ${errors} errors.`,
        `Bed traffic: ${formatFigures(clients)}.`,
      ],
      charts: caseCharts('9. clock skew', outcome.result.samples, markers),
    })
  })
}

// ── 10. a database stall across the close ─────────────────────────────────────────────────

/** Applications of case 10: per second; the event closes this long after they start. */
const stallApplicants = { rate: 50, openForMs: 4_000, quota: 100_000 }
const apiStatementTimeoutMs = poolRoles.api.statementTimeoutMs
/** nginx sits out a server that failed for fail_timeout (2 s): errors that long after the stall are still its doing. */
const nginxFailTimeoutMs = 2_000

export async function databaseStallCase(ctx: FaultContext, { stallMs }: { stallMs: number }): Promise<FaultCaseResult> {
  return withBed(ctx, 'faults_db_stall', {}, async (bed) => {
    const random = seededRandom(ctx.seed)
    const traffic = startTraffic(bed, { rate: ctx.rate, label: `stall-${Date.now()}` })
    const start = wallNow()
    const closesAt = start + stallApplicants.openForMs
    const eventId = await createEventThrough(bed.stack.url, bed.admin, {
      title: 'database stall',
      opensAt: new Date(start - 1_000),
      closesAt: new Date(closesAt),
      winnerQuota: stallApplicants.quota,
      announceAt: new Date(closesAt + drawSettleMs),
    })
    // The stall starts shortly before the close and ends stallMs later: across it whatever stallMs is.
    const leadMs = Math.min(1_000, stallMs / 2)
    const applying = sendApplicants(bed, eventId, {
      from: wallNow(),
      until: closesAt - leadMs + stallMs + 2_000,
      rate: stallApplicants.rate,
      random,
      label: 'stall',
    })
    const pid = bed.server.pid()
    if (!pid) throw new Error('the MariaDB server has no pid file: is it running?')
    await sleep(Math.max(0, closesAt - leadMs - wallNow()))
    const stall = { from: 0, to: 0, fromT: 0, toT: 0 }
    try {
      process.kill(pid, 'SIGSTOP')
      stall.from = wallNow()
      stall.fromT = traffic.now()
      bed.log(`  MariaDB (pid ${pid}) stopped with SIGSTOP ${(closesAt - stall.from).toFixed(0)} ms before the close`)
      await sleep(Math.max(0, stall.from + stallMs - wallNow()))
    } finally {
      process.kill(pid, 'SIGCONT')
      stall.to = wallNow()
      stall.toT = traffic.now()
    }
    bed.log(`  SIGCONT ${(stall.to - closesAt).toFixed(0)} ms after the close`)
    const applicants = await applying
    // The daemons' own poll draws it once announce_at is due (EVENT_POLL_MS, 5 s by default).
    await waitFor(
      `a daemon to draw event ${eventId}`,
      async () => {
        const [[row]] = await bed.pool.query<RowDataPacket[]>('SELECT status FROM events WHERE id = ?', [eventId])
        return row?.status === 'ANNOUNCED'
      },
      drawSettleMs + 30_000,
      100,
    )
    const drawnAt = wallNow()
    const { outcome, stored, acknowledged, audit } = await endEventCase(bed, traffic, eventId, applicants)

    const notWinners = acknowledged.filter((a) => !stored.winners.has(hex(a.applicationId!)))
    const acknowledgedIds = new Set(acknowledged.map((a) => hex(a.applicationId!)))
    const storedUnacknowledged = [...stored.applications.keys()].filter((id) => !acknowledgedIds.has(id)).length
    const storedAfterClose = [...stored.applications.values()].filter((a) => a.receivedAt >= closesAt).length
    const sentAfterClose = applicants.filter((a) => a.sentAt > closesAt + clockToleranceMs)
    const acceptedAfterClose = sentAfterClose.filter((a) => a.status === 201).length
    const answeredLate = acknowledged.filter((a) => a.answeredAt > closesAt)
    // An error is the stall's doing when the request was in flight during it (or within nginx's fail_timeout after it).
    const inStall = (from: number, to: number, stallFrom: number, stallTo: number) => from <= stallTo + nginxFailTimeoutMs && to >= stallFrom
    const failed = (status: number) => status === 0 || status >= 500
    const trafficErrors = outcome.result.samples.filter((s) => failed(s.status))
    const trafficExplained = trafficErrors.filter((s) => inStall(s.at, s.at + s.ms, stall.fromT * 1000, stall.toT * 1000))
    const applicantErrors = applicants.filter((a) => failed(a.status))
    const applicantExplained = applicantErrors.filter((a) => inStall(a.sentAt, a.answeredAt, stall.from, stall.to))
    const byStatus = (statuses: number[]) => {
      const counts = new Map<string, number>()
      for (const s of statuses) counts.set(s === 0 ? 'network' : String(s), (counts.get(s === 0 ? 'network' : String(s)) ?? 0) + 1)
      return [...counts].map(([s, n]) => `${n} × ${s}`).join(', ') || 'none'
    }
    const during = clientFigures(outcome.result.samples.filter((s) => inStall(s.at, s.at + s.ms, stall.fromT * 1000, stall.toT * 1000)))
    const clients = clientFigures(outcome.result.samples)
    const rel = (at: number) => `${at - closesAt >= 0 ? '+' : ''}${((at - closesAt) / 1000).toFixed(2)} s`

    return finish({
      id: 10,
      name: "a database stall across the event's close",
      injected: `1 × SIGSTOP of the MariaDB server for ${((stall.to - stall.from) / 1000).toFixed(2)} s, from ${rel(stall.from)} to ${rel(stall.to)} of a first-come event's close`,
      injections: 1,
      held: [
        held(
          'the stall spanned the close',
          stall.from < closesAt && stall.to > closesAt,
          `SIGSTOP at ${rel(stall.from)}, SIGCONT at ${rel(stall.to)} of closes_at (client clock); drawn ${rel(drawnAt)}`,
        ),
        held(
          'every 201 is stored and drawn a winner',
          acknowledged.length > 0 && notWinners.length === 0 && stored.winners.size === stored.applications.size,
          `${acknowledged.length} × 201, ${notWinners.length} of them not winners${
            notWinners.length
              ? ` (e.g. ${notWinners
                  .slice(0, 3)
                  .map((a) => a.applicationId)
                  .join(', ')})`
              : ''
          }; ${stored.winners.size} winners of ${stored.applications.size} stored (quota ${stallApplicants.quota}); ${storedUnacknowledged} stored without a 201`,
        ),
        held(
          'nothing that arrived after the close was accepted',
          acceptedAfterClose === 0 && storedAfterClose === 0 && sentAfterClose.length > 0,
          `${sentAfterClose.length} sent more than ${clockToleranceMs} ms after the close: ${acceptedAfterClose} × 201 (${byStatus(sentAfterClose.map((a) => a.status))}); ${storedAfterClose} stored stamps at or after closes_at; ${answeredLate.length} × 201 answered after the close, ${answeredLate.filter((a) => a.sentAt <= closesAt).length} of them sent before it`,
        ),
        held(
          'no 5xx beyond what the stall explains',
          trafficErrors.length === trafficExplained.length && applicantErrors.length === applicantExplained.length,
          `in flight during the stall (or ${nginxFailTimeoutMs / 1000} s after): traffic ${byStatus(trafficExplained.map((s) => s.status))}, case applications ${byStatus(applicantExplained.map((a) => a.status))}; outside it: traffic ${trafficErrors.length - trafficExplained.length}, case applications ${applicantErrors.length - applicantExplained.length}`,
        ),
        auditHeld(audit, /acknowledged/, '0 acknowledged writes lost'),
        auditHeld(audit, /one application per phone/, 'one application per phone'),
      ],
      clients,
      duringFault: during,
      audit: { ok: audit.ok, text: audit.text },
      notes: [
        `During the stall (requests in flight in it): ${formatFigures(during)}.`,
        `Applicants: ${applicants.length} sent at ~${stallApplicants.rate}/s until ${rel(applicants.at(-1)?.sentAt ?? closesAt)}: ${byStatus(applicants.map((a) => a.status))}. A 201 answered after the close (${answeredLate.length} here) is an application stamped before it whose group commit waited for the database; that is why the draw waits ${drawSettleMs / 1000} s past the close, and the event row's lock keeps any flush later than the draw from writing.`,
        ...(storedUnacknowledged > 0
          ? [
              `${storedUnacknowledged} applications are stored though their client got no 201: their group commit gave up on the stalled server (the API's statement timeout is ${apiStatementTimeoutMs / 1000} s; these clients were answered ${byStatus(applicantErrors.map((a) => a.status))}), and the server, once resumed, still ran the INSERT it had received. Their outcome was unknown to the client; a retry is answered 409 with the stored application's id.`,
            ]
          : []),
        'Arrival stamps and the close decision need no database (the replica clock is the monotonic clock plus its measured offset), so applications after the close are refused (410) from memory during the stall; those before it wait for their group commit.',
      ],
      charts: caseCharts('10. database stall', outcome.result.samples, [
        { at: stall.fromT, label: 'SIGSTOP MariaDB' },
        { at: stall.fromT + (closesAt - stall.from) / 1000, label: 'event closes' },
        { at: stall.toT, label: 'SIGCONT' },
      ]),
    })
  })
}
