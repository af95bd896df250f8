/**
 * The report's charts as inline SVG, hand-written so report.html renders offline and needs no
 * chart library. A chart is plain JSON-able data; hand a list of them to `writeReport` (report.ts),
 * which renders each with `renderChart`. x values of timeseries and gantt charts are seconds.
 *
 *   timeseries  lines over time, with shaded `bands` ({from, to, label}: the batch window) and
 *               vertical `markers` ({at, label}: "worker killed"); a `null` y breaks the line
 *   gantt       one lane per worker, one bar per chunk ({from, to}); `emphasis` bars stand out
 *   bars        grouped bars: one group per category, one bar per series, value on each bar
 *
 * Helpers that build series from samples: latencyOverTime / throughputOverTime (stats.ts),
 * readBatchTimeline (batch-timeline.ts). Every SVG carries data-chart="<kind>" for the tests.
 */

export interface Marker {
  at: number
  label: string
}

export interface Band {
  from: number
  to: number
  label: string
}

interface ChartBase {
  title: string
  /** A sentence under the chart: what is measured and how. */
  caption?: string
}

export interface Point {
  x: number
  /** null: nothing measured there; the line is broken rather than drawn through zero. */
  y: number | null
}

export interface LineSeries {
  label: string
  points: Point[]
  color?: string
}

export interface TimeseriesChart extends ChartBase {
  kind: 'timeseries'
  xLabel: string
  yLabel: string
  series: LineSeries[]
  markers?: Marker[]
  bands?: Band[]
  /** 'log' keeps p50 readable next to p99 outliers. */
  yScale?: 'linear' | 'log'
  /** 'log' with a log y too draws growth as slopes (x values must then be positive). */
  xScale?: 'linear' | 'log'
}

export interface GanttBar {
  from: number
  to: number
  /** Shown on the bar when it is wide enough, and as its tooltip. */
  label?: string
  emphasis?: boolean
}

export interface GanttLane {
  label: string
  bars: GanttBar[]
}

export interface GanttChart extends ChartBase {
  kind: 'gantt'
  xLabel: string
  lanes: GanttLane[]
  /** Legend entries for a plain bar and for an emphasised one. */
  barLabel: string
  emphasisLabel?: string
  markers?: Marker[]
  bands?: Band[]
}

export interface BarSeries {
  label: string
  /** One value per category; null leaves the slot empty. */
  values: (number | null)[]
  color?: string
}

export interface BarChart extends ChartBase {
  kind: 'bars'
  yLabel: string
  /** Group labels under the x axis; '\n' breaks a label into lines. */
  categories: string[]
  series: BarSeries[]
  /** Appended to each value label, e.g. ' s'. */
  unit?: string
  /** Fraction digits of the value labels. */
  digits?: number
}

export type Chart = TimeseriesChart | GanttChart | BarChart

export function renderChart(chart: Chart): string {
  switch (chart.kind) {
    case 'timeseries':
      return renderTimeseries(chart)
    case 'gantt':
      return renderGantt(chart)
    case 'bars':
      return renderBars(chart)
  }
}

// ---------------------------------------------------------------------------------------------
// Shared drawing pieces.

const width = 1100
const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf']
const emphasisColor = '#d62728'
const bandColor = '#f2b134'
const markerColor = '#c0392b'
const axisColor = '#444'
const gridColor = '#e3e3e3'
const font = 'DejaVu Sans, Liberation Sans, Arial, sans-serif'

export const colorAt = (index: number): string => palette[index % palette.length]!
/** Gantt lanes avoid the emphasis red. */
const laneColors = palette.filter((color) => color !== emphasisColor)

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

/** No font metrics without a browser: a generous average advance for DejaVu Sans. */
const textWidth = (text: string, size: number) => text.length * size * 0.57

type Attributes = Record<string, string | number | undefined>
const attrs = (a: Attributes) =>
  Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${escapeXml(String(v))}"`)
    .join('')

const text = (x: number, y: number, content: string, a: Attributes = {}) =>
  `<text${attrs({ x: round(x), y: round(y), 'font-size': 12, fill: axisColor, ...a })}>${escapeXml(content)}</text>`

const round = (n: number) => Math.round(n * 10) / 10

/** Short tick labels: 1500 → 1.5k, 0.25 → 0.25. */
export function formatTick(value: number): string {
  const abs = Math.abs(value)
  if (abs >= 1e6) return `${trim(value / 1e6)}M`
  if (abs >= 1e4) return `${trim(value / 1e3)}k`
  return trim(value)
}
const trim = (n: number) => String(Number(n.toPrecision(3)))

/** Ticks at 1, 2 or 5 × 10^k covering [min, max]. */
export function niceTicks(min: number, max: number, target = 6): number[] {
  if (!(max > min)) return [min]
  const raw = (max - min) / target
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const step = ([1, 2, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude
  const ticks: number[] = []
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)))
  return ticks
}

/** Ticks from 0 up to the first one at or above max, so lines and bars stay clear of the top edge. */
function ticksFromZero(max: number): number[] {
  const top = Number.isFinite(max) && max > 0 ? max : 1
  const ticks = niceTicks(0, top)
  const step = (ticks[1] ?? top) - (ticks[0] ?? 0)
  while (ticks[ticks.length - 1]! < top) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)))
  return ticks
}

interface Scale {
  (value: number): number
  ticks: number[]
}

function linearScale(domain: [number, number], range: [number, number], ticks = niceTicks(domain[0], domain[1])): Scale {
  const [d0, d1] = domain
  const [r0, r1] = range
  const span = d1 - d0 || 1
  return Object.assign((value: number) => r0 + ((value - d0) / span) * (r1 - r0), { ticks })
}

function logScale(domain: [number, number], range: [number, number]): Scale {
  const [l0, l1] = [Math.log10(domain[0]), Math.log10(domain[1])]
  const decades = Math.ceil(l1) - Math.floor(l0)
  const multiples = decades <= 3 ? [1, 2, 5] : [1]
  const ticks: number[] = []
  for (let k = Math.floor(l0); k <= Math.ceil(l1); k++) {
    for (const m of multiples) {
      const t = m * 10 ** k
      if (t >= domain[0] * 0.999 && t <= domain[1] * 1.001) ticks.push(Number(t.toPrecision(12)))
    }
  }
  const linear = linearScale([l0, l1], range)
  return Object.assign((value: number) => linear(Math.log10(Math.max(value, domain[0]))), { ticks })
}

interface Plot {
  left: number
  right: number
  top: number
  bottom: number
}

function svg(kind: Chart['kind'], title: string, height: number, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" data-chart="${kind}" viewBox="0 0 ${width} ${round(height)}" width="${width}" height="${round(height)}" font-family="${font}" role="img" aria-label="${escapeXml(title)}">`,
    `<rect width="${width}" height="${round(height)}" fill="#fff"/>`,
    text(16, 26, title, { 'font-size': 16, 'font-weight': 'bold', fill: '#222' }),
    ...body,
    '</svg>',
  ].join('\n')
}

interface LegendItem {
  label: string
  color: string
  shape: 'line' | 'box' | 'dashed'
}

/** Legend entries in rows under the title; returns the markup and the height it takes. */
function legend(items: LegendItem[], left: number, top: number): { markup: string; height: number } {
  const rowHeight = 18
  let x = left
  let y = top
  const parts: string[] = []
  for (const item of items) {
    const itemWidth = 24 + textWidth(item.label, 12) + 18
    if (x + itemWidth > width - 16 && x > left) {
      x = left
      y += rowHeight
    }
    const swatch =
      item.shape === 'box'
        ? `<rect x="${x}" y="${y - 9}" width="16" height="10" fill="${item.color}" fill-opacity="${item.color === bandColor ? 0.35 : 1}"/>`
        : `<line x1="${x}" y1="${y - 4}" x2="${x + 16}" y2="${y - 4}" stroke="${item.color}" stroke-width="${item.shape === 'line' ? 2.5 : 1.5}"${item.shape === 'dashed' ? ' stroke-dasharray="4 3"' : ''}/>`
    parts.push(`<g data-legend="${escapeXml(item.label)}">${swatch}${text(x + 22, y, item.label)}</g>`)
    x += itemWidth
  }
  return { markup: parts.join('\n'), height: items.length ? y - top + rowHeight : 0 }
}

const overlayLegend = (bands: Band[] = [], markers: Marker[] = []): LegendItem[] => [
  ...(bands.length ? [{ label: 'shaded: time windows', color: bandColor, shape: 'box' as const }] : []),
  ...(markers.length ? [{ label: 'dashed: events', color: markerColor, shape: 'dashed' as const }] : []),
]

function xAxis(scale: Scale, plot: Plot, label: string): string {
  return [
    ...scale.ticks.map((t) => {
      const x = scale(t)
      return `<line x1="${round(x)}" y1="${plot.bottom}" x2="${round(x)}" y2="${plot.bottom + 5}" stroke="${axisColor}"/>${text(x, plot.bottom + 19, formatTick(t), { 'text-anchor': 'middle' })}`
    }),
    `<line x1="${plot.left}" y1="${plot.bottom}" x2="${plot.right}" y2="${plot.bottom}" stroke="${axisColor}"/>`,
    text((plot.left + plot.right) / 2, plot.bottom + 40, label, { 'text-anchor': 'middle', 'font-size': 13 }),
  ].join('\n')
}

function yAxis(scale: Scale, plot: Plot, label: string): string {
  return [
    ...scale.ticks.map((t) => {
      const y = scale(t)
      return `<line x1="${plot.left}" y1="${round(y)}" x2="${plot.right}" y2="${round(y)}" stroke="${gridColor}"/>${text(plot.left - 8, y + 4, formatTick(t), { 'text-anchor': 'end' })}`
    }),
    `<line x1="${plot.left}" y1="${plot.top}" x2="${plot.left}" y2="${plot.bottom}" stroke="${axisColor}"/>`,
    text(18, (plot.top + plot.bottom) / 2, label, {
      'text-anchor': 'middle',
      'font-size': 13,
      transform: `rotate(-90 18 ${round((plot.top + plot.bottom) / 2)})`,
    }),
  ].join('\n')
}

/**
 * Shaded bands and dashed markers over a plot. Their labels sit inside the plot's top edge, on
 * as many rows as it takes for neighbours not to overlap, on a white backing to stay readable.
 */
function overlays(scale: Scale, plot: Plot, bands: Band[] = [], markers: Marker[] = []): { under: string; over: string } {
  const under: string[] = []
  const labels: { x: number; text: string; color: string; anchor: 'start' | 'end' }[] = []
  for (const band of bands) {
    const [x0, x1] = [scale(band.from), scale(band.to)].map((x) => Math.min(plot.right, Math.max(plot.left, x))) as [number, number]
    under.push(
      `<rect data-band="${escapeXml(band.label)}" x="${round(x0)}" y="${plot.top}" width="${round(Math.max(1, x1 - x0))}" height="${plot.bottom - plot.top}" fill="${bandColor}" fill-opacity="0.18"><title>${escapeXml(`${band.label}: ${formatTick(band.from)}–${formatTick(band.to)}`)}</title></rect>`,
    )
    // Inside the band from its left edge, or right-aligned when that would run off the plot.
    const fits = x0 + 4 + textWidth(band.label, 11) <= plot.right
    labels.push(
      fits
        ? { x: x0 + 4, text: band.label, color: '#8a5a00', anchor: 'start' }
        : { x: Math.max(x1, plot.left + textWidth(band.label, 11)) - 4, text: band.label, color: '#8a5a00', anchor: 'end' },
    )
  }
  for (const marker of markers) {
    const x = scale(marker.at)
    under.push(
      `<line data-marker="${escapeXml(marker.label)}" x1="${round(x)}" y1="${plot.top}" x2="${round(x)}" y2="${plot.bottom}" stroke="${markerColor}" stroke-width="1.5" stroke-dasharray="5 4"/>`,
    )
    const fits = x + 4 + textWidth(marker.label, 11) <= plot.right
    labels.push({ x: fits ? x + 4 : x - 4, text: marker.label, color: markerColor, anchor: fits ? 'start' : 'end' })
  }
  const rowsEnd: number[] = []
  const over = labels
    .sort((a, b) => a.x - b.x)
    .map((label) => {
      const w = textWidth(label.text, 11)
      const [start, end] = label.anchor === 'start' ? [label.x, label.x + w] : [label.x - w, label.x]
      let row = rowsEnd.findIndex((rowEnd) => rowEnd < start - 6)
      if (row < 0) row = rowsEnd.push(end) - 1
      else rowsEnd[row] = end
      const y = plot.top + 14 + row * 15
      return `<rect x="${round(start - 2)}" y="${y - 11}" width="${round(w + 4)}" height="14" fill="#fff" fill-opacity="0.85"/>${text(label.x, y, label.text, { 'font-size': 11, fill: label.color, 'text-anchor': label.anchor })}`
    })
  return { under: under.join('\n'), over: over.join('\n') }
}

/** The x domain of time charts: every point, bar, band and marker, from 0 at the latest. */
function timeDomain(values: number[]): [number, number] {
  const finite = values.filter(Number.isFinite)
  const min = Math.min(0, ...finite)
  const max = finite.length ? Math.max(...finite) : 1
  return [min, max > min ? max : min + 1]
}

// ---------------------------------------------------------------------------------------------
// The three kinds.

function renderTimeseries(chart: TimeseriesChart): string {
  const series = chart.series.map((s, i) => ({ ...s, color: s.color ?? colorAt(i) }))
  const key = legend([...series.map((s) => ({ label: s.label, color: s.color, shape: 'line' as const })), ...overlayLegend(chart.bands, chart.markers)], 72, 52)
  const plotHeight = 280
  const plot: Plot = { left: 72, right: width - 24, top: 52 + key.height + 4, bottom: 52 + key.height + 4 + plotHeight }
  const xs = [
    ...series.flatMap((s) => s.points.map((p) => p.x)),
    ...(chart.bands ?? []).flatMap((b) => [b.from, b.to]),
    ...(chart.markers ?? []).map((m) => m.at),
  ]
  const positiveXs = xs.filter((value) => value > 0 && Number.isFinite(value))
  const x =
    chart.xScale === 'log'
      ? // A single x (one factor) still gets a decade to sit in.
        logScale(positiveXs.length ? [Math.min(...positiveXs), Math.max(...positiveXs, Math.min(...positiveXs) * 10)] : [1, 10], [plot.left, plot.right])
      : linearScale(timeDomain(xs), [plot.left, plot.right], niceTicks(...timeDomain(xs), 12))
  const ys = series.flatMap((s) => s.points.map((p) => p.y)).filter((y): y is number => y !== null && Number.isFinite(y))
  const log = chart.yScale === 'log'
  const positive = ys.filter((y) => y > 0)
  const y = log
    ? logScale([positive.length ? Math.min(...positive) : 1, positive.length ? Math.max(...positive) * 1.2 : 10], [plot.bottom, plot.top])
    : (() => {
        // Headroom for the band and marker labels along the top edge.
        const ticks = ticksFromZero(Math.max(0, ...ys) * 1.1)
        return linearScale([0, ticks[ticks.length - 1]!], [plot.bottom, plot.top], ticks)
      })()
  const { under, over } = overlays(x, plot, chart.bands, chart.markers)
  const lines = series.flatMap((s) =>
    segments(s.points).map((segment) =>
      segment.length === 1
        ? `<circle data-series="${escapeXml(s.label)}" cx="${round(x(segment[0]!.x))}" cy="${round(y(segment[0]!.y))}" r="2" fill="${s.color}"/>`
        : `<polyline data-series="${escapeXml(s.label)}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round" points="${segment.map((p) => `${round(x(p.x))},${round(y(p.y))}`).join(' ')}"/>`,
    ),
  )
  const empty = ys.length === 0 ? [text((plot.left + plot.right) / 2, (plot.top + plot.bottom) / 2, 'no data', { 'text-anchor': 'middle' })] : []
  return svg('timeseries', chart.title, plot.bottom + 52, [
    key.markup,
    under,
    yAxis(y, plot, chart.yLabel + (log ? ' (log scale)' : '')),
    xAxis(x, plot, chart.xLabel),
    ...lines,
    ...empty,
    over,
  ])
}

/** Runs of consecutive measured points: a null (or a non-positive y on a log axis) ends a run. */
function segments(points: Point[]): { x: number; y: number }[][] {
  const runs: { x: number; y: number }[][] = [[]]
  for (const p of points) {
    if (p.y === null || !Number.isFinite(p.y)) runs.push([])
    else runs[runs.length - 1]!.push({ x: p.x, y: p.y })
  }
  return runs.filter((run) => run.length > 0)
}

function renderGantt(chart: GanttChart): string {
  const emphasised = chart.lanes.some((lane) => lane.bars.some((bar) => bar.emphasis))
  const key = legend(
    [
      { label: chart.barLabel, color: colorAt(0), shape: 'box' },
      ...(emphasised && chart.emphasisLabel ? [{ label: chart.emphasisLabel, color: emphasisColor, shape: 'box' as const }] : []),
      ...overlayLegend(chart.bands, chart.markers),
    ],
    72,
    52,
  )
  const rowHeight = 22
  const lanePadding = 4
  // A worker may hold several chunks at once: overlapping bars go on rows of their own in the lane.
  const laneRows = chart.lanes.map((lane) => stackIntervals(lane.bars))
  const laneHeights = laneRows.map((rows) => 2 * lanePadding + Math.max(1, rows.length) * rowHeight)
  const labelWidth = Math.max(90, ...chart.lanes.map((lane) => textWidth(lane.label, 12) + 20))
  const overlayRows = (chart.bands?.length ?? 0) + (chart.markers?.length ? 1 : 0)
  // Room above the first lane for the band and marker labels.
  const labelRoom = overlayRows ? 8 + 15 * Math.min(overlayRows, 3) : 4
  const top = 52 + key.height + 4
  const lanesHeight = laneHeights.reduce((sum, h) => sum + h, 0) || 2 * lanePadding + rowHeight
  const plot: Plot = { left: labelWidth, right: width - 24, top, bottom: top + labelRoom + lanesHeight }
  const xs = [
    ...chart.lanes.flatMap((lane) => lane.bars.flatMap((bar) => [bar.from, bar.to])),
    ...(chart.bands ?? []).flatMap((b) => [b.from, b.to]),
    ...(chart.markers ?? []).map((m) => m.at),
  ]
  const x = linearScale(timeDomain(xs), [plot.left, plot.right], niceTicks(...timeDomain(xs), 12))
  const { under, over } = overlays(x, plot, chart.bands, chart.markers)
  let laneTop = plot.top + labelRoom
  const lanes = chart.lanes.map((lane, index) => {
    const color = laneColors[index % laneColors.length]!
    const laneHeight = laneHeights[index]!
    const bars = laneRows[index]!.flatMap((row, rowIndex) =>
      row.map((bar) => {
        const [x0, x1] = [x(bar.from), x(bar.to)]
        const barWidth = Math.max(1.5, x1 - x0)
        const barTop = laneTop + lanePadding + rowIndex * rowHeight + 1
        const inside =
          bar.label && textWidth(bar.label, 10) + 6 <= barWidth
            ? text(x0 + barWidth / 2, barTop + rowHeight / 2 + 2.5, bar.label, { 'font-size': 10, fill: '#fff', 'text-anchor': 'middle' })
            : ''
        const tooltip = `${bar.label ? `${bar.label}: ` : ''}${formatTick(bar.from)}–${formatTick(bar.to)} s`
        return `<rect data-bar="chunk" x="${round(x0)}" y="${round(barTop)}" width="${round(barWidth)}" height="${rowHeight - 2}" fill="${bar.emphasis ? emphasisColor : color}" stroke="#fff" stroke-width="0.75"><title>${escapeXml(tooltip)}</title></rect>${inside}`
      }),
    )
    const markup = [
      index % 2 ? '' : `<rect x="${plot.left}" y="${round(laneTop)}" width="${plot.right - plot.left}" height="${laneHeight}" fill="#f6f6f6"/>`,
      text(plot.left - 10, laneTop + laneHeight / 2 + 4, lane.label, { 'text-anchor': 'end' }),
      ...bars,
    ].join('\n')
    laneTop += laneHeight
    return markup
  })
  const gridlines = x.ticks.map((t) => `<line x1="${round(x(t))}" y1="${plot.top}" x2="${round(x(t))}" y2="${plot.bottom}" stroke="${gridColor}"/>`)
  const empty = chart.lanes.length === 0 ? [text((plot.left + plot.right) / 2, plot.bottom - lanesHeight / 2 + 4, 'no data', { 'text-anchor': 'middle' })] : []
  return svg('gantt', chart.title, plot.bottom + 52, [
    key.markup,
    ...gridlines,
    lanes.filter(Boolean).join('\n'),
    under,
    xAxis(x, plot, chart.xLabel),
    `<line x1="${plot.left}" y1="${plot.top}" x2="${plot.left}" y2="${plot.bottom}" stroke="${axisColor}"/>`,
    ...empty,
    over,
  ])
}

/** Interval partitioning: each bar on the first row where it starts after the row's last bar ends. */
function stackIntervals(bars: GanttBar[]): GanttBar[][] {
  const rows: GanttBar[][] = []
  for (const bar of [...bars].sort((a, b) => a.from - b.from)) {
    const row = rows.find((r) => r[r.length - 1]!.to <= bar.from)
    if (row) row.push(bar)
    else rows.push([bar])
  }
  return rows
}

function renderBars(chart: BarChart): string {
  const series = chart.series.map((s, i) => ({ ...s, color: s.color ?? colorAt(i) }))
  const key = legend(
    series.map((s) => ({ label: s.label, color: s.color, shape: 'box' as const })),
    72,
    52,
  )
  const categoryLines = chart.categories.map((c) => c.split('\n'))
  const labelLines = Math.max(1, ...categoryLines.map((lines) => lines.length))
  const plot: Plot = { left: 72, right: width - 24, top: 52 + key.height + 8, bottom: 52 + key.height + 8 + 260 }
  const values = series.flatMap((s) => s.values).filter((v): v is number => v !== null && Number.isFinite(v))
  // Headroom above the tallest bar for its value label.
  const ticks = ticksFromZero(Math.max(0, ...values) * 1.08)
  const y = linearScale([0, ticks[ticks.length - 1]!], [plot.bottom, plot.top], ticks)
  const groupWidth = (plot.right - plot.left) / Math.max(1, chart.categories.length)
  const barWidth = Math.min(70, (groupWidth * 0.8) / Math.max(1, series.length))
  const digits = chart.digits ?? 2
  const format = (v: number) => `${v.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits })}${chart.unit ?? ''}`
  const groups = chart.categories.map((_, c) => {
    const present = series.filter((s) => s.values[c] !== null && s.values[c] !== undefined && Number.isFinite(s.values[c]))
    const groupLeft = plot.left + c * groupWidth + (groupWidth - present.length * barWidth) / 2
    return present.map((s, i) => {
      const value = s.values[c]!
      const x0 = groupLeft + i * barWidth
      const top = y(value)
      const valueLabel = format(value)
      const size = textWidth(valueLabel, 11) <= barWidth + 8 ? 11 : 9
      return `<rect data-bar="${escapeXml(s.label)}" x="${round(x0 + 2)}" y="${round(top)}" width="${round(barWidth - 4)}" height="${round(Math.max(0.5, plot.bottom - top))}" fill="${s.color}"><title>${escapeXml(`${s.label}, ${chart.categories[c]!.replace(/\n/g, ' ')}: ${valueLabel}`)}</title></rect>${text(x0 + barWidth / 2, top - 5, valueLabel, { 'font-size': size, 'text-anchor': 'middle', fill: '#222' })}`
    })
  })
  const empty = values.length === 0 ? [text((plot.left + plot.right) / 2, (plot.top + plot.bottom) / 2, 'no data', { 'text-anchor': 'middle' })] : []
  const categoryLabels = categoryLines.map((lines, c) =>
    lines.map((line, l) => text(plot.left + (c + 0.5) * groupWidth, plot.bottom + 18 + l * 15, line, { 'text-anchor': 'middle' })).join(''),
  )
  return svg('bars', chart.title, plot.bottom + 20 + labelLines * 15 + 8, [
    key.markup,
    yAxis(y, plot, chart.yLabel),
    `<line x1="${plot.left}" y1="${plot.bottom}" x2="${plot.right}" y2="${plot.bottom}" stroke="${axisColor}"/>`,
    ...groups.flat(),
    ...categoryLabels,
    ...empty,
  ])
}
