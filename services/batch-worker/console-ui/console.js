// The operations console: one module, no framework and no build step (docs/DESIGN.md, "The
// console"). Data comes from /console/api/stream (Server-Sent Events read through fetch, so the
// admin token travels in the Authorization header and never in a URL or a cookie).

const api = '/console/api'
const tokenKey = 'console-token'
const svgNs = 'http://www.w3.org/2000/svg'
const $ = (id) => document.getElementById(id)

let token = sessionStorage.getItem(tokenKey)
let streaming

/** An element with attributes and children; text is always set as text, never parsed as HTML. */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value)
    else element.setAttribute(name, value === true ? '' : String(value))
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false))
  return element
}

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(svgNs, tag)
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value))
  element.append(...children)
  return element
}

const badge = (state, text = state) => h('span', { class: 'badge', 'data-state': state }, text)
const number = (value) => (value === null || value === undefined ? '–' : Number(value).toLocaleString('en-US'))
const secondsText = (value) => (value === null || value === undefined ? '–' : `${Number(value).toFixed(value < 10 ? 2 : 1)} s`)
const shortId = (id) => `…${id.slice(-6)}`
const table = (element, head, rows) => element.replaceChildren(h('thead', {}, h('tr', {}, head.map((title) => h('th', {}, title)))), h('tbody', {}, rows))
/** A table row: one cell per value (text or an element). */
const row = (attributes, ...cells) => h('tr', attributes, cells.map((cell) => h('td', {}, cell)))

async function call(method, path, body) {
  const response = await fetch(`${api}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  })
  const payload = await response.json().catch(() => ({}))
  return { status: response.status, payload }
}

function say(element, text, kind = 'info') {
  element.textContent = text
  element.dataset.kind = kind
}

const refusal = ({ status, payload }) => `${payload.code ?? `HTTP ${status}`}: ${payload.message ?? 'refused'}`

/** The page's own confirmation step: nothing is written before the operator confirms it here. */
function confirmInPage(text) {
  const dialog = $('confirm')
  $('confirm-text').textContent = text
  dialog.returnValue = ''
  dialog.showModal()
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }))
}

/** Width through the CSSOM: the page's Content-Security-Policy refuses inline style attributes. */
function progressBar(share) {
  const fill = h('div')
  fill.style.width = `${(share * 100).toFixed(1)}%`
  return h('div', { class: 'progress' }, fill)
}

// ---- rendering --------------------------------------------------------------------------------

function renderRuns(runs, timeline) {
  const focus = runs[0]
  if (!focus) {
    $('run-focus').replaceChildren(h('p', { class: 'muted' }, 'No run yet.'))
  } else {
    const share = focus.chunks ? focus.chunksDone / focus.chunks : 0
    const pacing = timeline?.runId === focus.id ? timeline.pacing : []
    $('run-focus').replaceChildren(
      h(
        'p',
        {},
        `Run ${focus.id} · ${focus.period} · ${focus.strategy} `,
        h('span', { id: 'focus-status' }, badge(focus.status)),
        ' ',
        h('span', { id: 'focus-chunks' }, `${number(focus.chunksDone)} / ${number(focus.chunks)} chunks done`),
        ` · ${number(focus.targets)} targets · ${number(focus.couponsIssued)} coupons issued · total ${secondsText(focus.totalSeconds)}`,
      ),
      progressBar(share),
      pacing.length > 0
        ? h('p', { class: 'muted' }, 'Pacing: ', pacing.map((pace) => `${shortId(pace.worker)} ${pace.level.toFixed(2)} lanes (${pace.reason})`).join(' · '))
        : '',
    )
  }
  renderTimeline(timeline)
  table(
    $('runs'),
    ['run', 'period', 'status', 'strategy', 'chunks done', 'targets', 'issued', 'revoked', 'redemptions', 'plan', 'process', 'total'],
    runs.map((run) =>
      row(
        { 'data-run': run.id },
        String(run.id),
        run.period,
        badge(run.status),
        run.strategy,
        `${number(run.chunksDone)} / ${number(run.chunks)}`,
        number(run.targets),
        number(run.couponsIssued),
        number(run.couponsRevoked),
        number(run.redemptionsApplied),
        secondsText(run.planSeconds),
        secondsText(run.processSeconds),
        secondsText(run.totalSeconds),
      ),
    ),
  )
}

/** One lane per worker, one bar per chunk (its last claim to its commit), and every claim event as a mark. */
function renderTimeline(timeline) {
  const box = $('timeline')
  if (!timeline || timeline.chunks.every((chunk) => chunk.from === null)) {
    box.replaceChildren()
    return
  }
  const workers = [...new Set([...timeline.chunks.map((chunk) => chunk.worker), ...timeline.events.map((event) => event.worker)].filter(Boolean))]
  // A finished run keeps its own scale instead of shrinking as time goes on.
  const end = Math.max(0.001, ...timeline.chunks.map((chunk) => (chunk.from === null ? 0 : (chunk.to ?? timeline.now))), ...timeline.events.map((event) => event.at))
  const left = 130
  const width = 900
  const lane = 22
  const x = (seconds) => left + (Math.min(end, Math.max(0, seconds)) / end) * (width - left - 40)
  const height = workers.length * lane + 30
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `chunk timeline of run ${timeline.runId}` })
  if (timeline.planning) {
    const to = timeline.planning.to ?? timeline.now
    chart.append(svg('rect', { class: 'band', x: x(timeline.planning.from), y: 0, width: Math.max(1, x(to) - x(timeline.planning.from)), height: height - 24 }))
  }
  workers.forEach((worker, index) => {
    const y = index * lane + 4
    chart.append(svg('text', { x: 0, y: y + 13 }, `worker ${index + 1} · ${shortId(worker)}`))
    for (const chunk of timeline.chunks.filter((candidate) => candidate.worker === worker && candidate.from !== null)) {
      const to = chunk.to ?? timeline.now
      const kind = chunk.claims > 1 ? 'retaken' : chunk.status
      const bar = svg('rect', { class: `chunk-${kind}`, x: x(chunk.from), y, width: Math.max(1.5, x(to) - x(chunk.from)), height: lane - 8 })
      bar.append(svg('title', {}, `chunk #${chunk.chunkNo} · ${chunk.status} · claim ${chunk.claims}`))
      chart.append(bar)
    }
    for (const event of timeline.events.filter((candidate) => candidate.worker === worker && candidate.kind !== 'CLAIM')) {
      const at = x(event.at)
      const mark =
        event.kind === 'REFUSED'
          ? svg('path', { class: 'marker-REFUSED', d: `M${at - 4} ${y - 2} l8 8 m0 -8 l-8 8` })
          : svg('path', { class: `marker-${event.kind}`, d: `M${at} ${y - 3} l4 -6 h-8 z` })
      mark.append(svg('title', {}, `${event.kind.toLowerCase()} of chunk #${event.chunkNo} (epoch ${event.epoch}) at ${event.at.toFixed(2)} s`))
      chart.append(mark)
    }
  })
  const axisY = workers.length * lane + 8
  chart.append(svg('line', { class: 'axis', x1: left, x2: width - 40, y1: axisY, y2: axisY }))
  for (let tick = 0; tick <= 4; tick++) chart.append(svg('text', { x: x((end * tick) / 4) - 8, y: axisY + 16 }, `${((end * tick) / 4).toFixed(1)} s`))
  if (timeline.published !== null) chart.append(svg('line', { class: 'marker-TAKEOVER', x1: x(timeline.published), x2: x(timeline.published), y1: 0, y2: axisY, stroke: '#888' }))
  const counts = Object.fromEntries(['CLAIM', 'STEAL', 'TAKEOVER', 'REFUSED'].map((kind) => [kind, timeline.events.filter((event) => event.kind === kind).length]))
  box.replaceChildren(
    chart,
    h(
      'div',
      { class: 'legend' },
      h('span', {}, `${workers.length} workers`),
      h('span', {}, `${counts.CLAIM} claims`),
      h('span', {}, `▲ ${counts.STEAL} steals`),
      h('span', {}, `▲ ${counts.TAKEOVER} lease takeovers (red)`),
      h('span', {}, `✕ ${counts.REFUSED} fencing refusals`),
      h('span', {}, 'grey band: planning · grey line: published'),
    ),
  )
}

function renderMembers(members) {
  table(
    $('members'),
    ['service', 'member', 'host · pid', 'state', 'rank', 'heartbeat age', 'up', 'p99 (1 s)', 'req/s'],
    members.map((member) =>
      row(
        { class: member.alive ? 'alive' : 'dead', 'data-member': member.id },
        member.service,
        h('span', { title: member.id }, shortId(member.id)),
        `${member.host} · ${member.pid}`,
        badge(member.alive ? 'alive' : 'dead'),
        member.rank === null ? '–' : String(member.rank),
        secondsText(member.heartbeatAgeSeconds),
        secondsText(member.upSeconds),
        member.loadP99Ms === null ? '–' : `${member.loadP99Ms.toFixed(1)} ms`,
        number(member.loadRps),
      ),
    ),
  )
}

function renderEvents(events) {
  const when = (iso) => iso.replace('T', ' ').slice(0, 19)
  table(
    $('events'),
    ['event', 'title', 'state', 'opens', 'closes', 'announce', 'applications', 'quota', 'winners', ''],
    events.map((event) =>
      row(
        { 'data-event': event.id },
        String(event.id),
        event.title,
        badge(event.state),
        when(event.opensAt),
        when(event.closesAt),
        when(event.announceAt),
        `${event.applicationsCapped ? '≥ ' : ''}${number(event.applications)}${event.applications >= event.quota ? ' (quota reached)' : ''}`,
        number(event.quota),
        number(event.winners),
        event.state === 'CLOSED' ? h('button', { type: 'button', class: 'secondary', onclick: () => drawEarly(event) }, 'Draw now') : null,
      ),
    ),
  )
}

function renderRedemptions(redemptions) {
  $('redemptions').replaceChildren(
    h('dt', {}, 'pending'),
    h('dd', { id: 'pending' }, number(redemptions.pending)),
    h('dt', {}, 'oldest pending'),
    h('dd', {}, secondsText(redemptions.oldestPendingSeconds)),
    h('dt', {}, 'applied, last minute'),
    h('dd', {}, number(redemptions.appliedLastMinute)),
  )
}

function render(snapshot) {
  $('generated').textContent = `as of ${snapshot.generatedAt.replace('T', ' ').slice(0, 19)} UTC (database clock)`
  renderRuns(snapshot.runs, snapshot.timeline)
  renderMembers(snapshot.members)
  renderEvents(snapshot.events)
  renderRedemptions(snapshot.redemptions)
}

// ---- actions ----------------------------------------------------------------------------------

function runRequest() {
  const force = $('force').checked
  const reason = $('reason').value.trim()
  // A reason goes with force only (the service refuses one alone); a reason typed without ticking force is not sent.
  return { period: $('period').value.trim(), ...(force ? { force, ...(reason ? { reason } : {}) } : {}) }
}

async function previewRun(event) {
  event.preventDefault()
  const request = runRequest()
  const message = $('run-message')
  say(message, 'Planning a dry run…')
  $('preview').replaceChildren()
  const answer = await call('POST', '/runs?dryRun=true', request)
  if (answer.status !== 200) return say(message, refusal(answer), 'error')
  const plan = answer.payload
  say(message, `Dry run of ${plan.period}: nothing was written.`)
  $('preview').replaceChildren(
    h(
      'dl',
      { class: 'figures', id: 'preview-figures' },
      h('dt', {}, 'targets'),
      h('dd', {}, number(plan.targets)),
      h('dt', {}, 'chunks'),
      h('dd', {}, number(plan.chunks)),
      h('dt', {}, 'coupons to issue'),
      h('dd', {}, number(plan.couponsToIssue)),
      h('dt', {}, 'grade moves'),
      h('dd', {}, plan.moves.map((move) => `${move.from}→${move.to} ${number(move.users)}`).join(', ') || 'none'),
    ),
    h('button', { type: 'button', id: 'start-run', onclick: () => startRun(request, plan) }, `Start the run for ${plan.period}`),
  )
}

async function startRun(request, plan) {
  const message = $('run-message')
  if (!(await confirmInPage(`Start the ${request.period} run: ${number(plan.targets)} targets, ${number(plan.couponsToIssue)} coupons?`))) return
  const answer = await call('POST', '/runs', request)
  if (answer.status !== 202) return say(message, refusal(answer), 'error')
  $('preview').replaceChildren()
  say(message, `Run ${answer.payload.id} for ${answer.payload.period} is ${answer.payload.status}.`)
}

async function drawEarly(event) {
  const message = $('event-message')
  if (!(await confirmInPage(`Draw event ${event.id} "${event.title}" now, before its announcement?`))) return
  const answer = await call('POST', `/events/${event.id}/draw`, undefined)
  if (answer.status !== 200) return say(message, refusal(answer), 'error')
  say(message, `Event ${event.id}: ${answer.payload.outcome}, ${answer.payload.winners} winners.`)
}

// ---- session and stream -----------------------------------------------------------------------

function setLive(state) {
  $('live').dataset.state = state
  $('live').textContent = state
}

function showLogin(error = '') {
  streaming?.abort()
  token = null
  sessionStorage.removeItem(tokenKey)
  $('login').hidden = false
  $('dashboard').hidden = true
  $('logout').hidden = true
  $('login-error').textContent = error
  setLive('offline')
}

function handleBlock(block) {
  const lines = block.split('\n')
  const kind = lines.find((line) => line.startsWith('event: '))?.slice(7)
  const data = lines
    .filter((line) => line.startsWith('data: '))
    .map((line) => line.slice(6))
    .join('\n')
  if (kind === 'snapshot') {
    render(JSON.parse(data))
    setLive('live')
  } else if (kind === 'unavailable') {
    setLive('reconnecting')
  } else if (kind === 'expired') {
    // The stream ends at the token's expiry: ask for a new token rather than reconnect with this one.
    showLogin(JSON.parse(data).message)
  }
}

/** Reads the stream until it ends, then reconnects after a pause; a refused or expired token ends the session. */
async function follow(signal) {
  while (!signal.aborted) {
    try {
      const response = await fetch(`${api}/stream`, { headers: { authorization: `Bearer ${token}` }, signal })
      if (response.status === 401 || response.status === 403) {
        const payload = await response.json().catch(() => ({}))
        return showLogin(payload.message ?? 'signed out')
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`)
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buffer += value
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          handleBlock(buffer.slice(0, end))
          buffer = buffer.slice(end + 2)
        }
      }
    } catch {
      if (signal.aborted) return
    }
    setLive('reconnecting')
    await new Promise((resolve) => setTimeout(resolve, 2000))
  }
}

async function signIn(candidate) {
  token = candidate
  const answer = await call('GET', '/snapshot')
  if (answer.status === 403) return showLogin('This token is not an admin token: the console is for admins only.')
  if (answer.status !== 200) return showLogin(answer.status === 401 ? 'The token is invalid or expired.' : refusal(answer))
  sessionStorage.setItem(tokenKey, candidate)
  $('login').hidden = true
  $('dashboard').hidden = false
  $('logout').hidden = false
  render(answer.payload)
  streaming = new AbortController()
  follow(streaming.signal)
}

$('login-form').addEventListener('submit', (event) => {
  event.preventDefault()
  signIn($('token').value.trim())
})
$('logout').addEventListener('click', () => showLogin())
$('run-form').addEventListener('submit', previewRun)
if (token) signIn(token)
