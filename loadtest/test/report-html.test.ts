import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { writeReportFiles } from '../src/report.ts'
import { decodePng } from './png.ts'
import { fixtureCharts, fixtureMarkdown } from './report-fixture.ts'

// Renders report.html from synthetic data and has Debian's headless chromium load it from disk
// (no network): the DOM must hold every chart's SVG, and the screenshot must show them. The
// page and its screenshot stay in the folder below, overwritten by each run, for a look by eye.
const chromium = '/usr/bin/chromium'
const outDir = join(tmpdir(), 'loadtest-report-screenshot')
const [screenWidth, screenHeight] = [1280, 2000]

async function runChromium(...args: string[]): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'))
  try {
    const { stdout } = await promisify(execFile)(
      chromium,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${profile}`,
        ...args,
      ],
      { timeout: 120_000, maxBuffer: 64 * 2 ** 20 },
    )
    return stdout
  } finally {
    rmSync(profile, { recursive: true, force: true })
  }
}

const count = (html: string, pattern: RegExp) => html.match(pattern)?.length ?? 0

t.test('report.html renders its charts in headless chromium', async (t) => {
  // Not a skip: the repo's bootstrap installs chromium, so its absence is a broken machine.
  t.ok(existsSync(chromium), `${chromium} is installed (infra/local/bootstrap.sh installs Debian's chromium)`)
  rmSync(outDir, { recursive: true, force: true })
  mkdirSync(outDir, { recursive: true })
  const charts = fixtureCharts()
  writeReportFiles(outDir, { fixture: true }, fixtureMarkdown, charts)
  const page = pathToFileURL(join(outDir, 'report.html')).href

  const dom = await runChromium('--dump-dom', page)
  t.match(dom, /<h1>Live APIs during the batch/, 'the title is the heading')
  t.match(dom, /<td class="number">412.7<\/td>/, 'the summary table is an HTML table')
  const svgs = [...dom.matchAll(/<svg [^>]*data-chart="([a-z]+)"/g)].map((m) => m[1])
  t.same(
    svgs,
    charts.map((c) => c.kind),
    'one <svg data-chart> per chart, in order',
  )
  const sections = dom.split(/<svg /).slice(1)
  const [latency = '', throughput = '', gantt = '', bars = ''] = sections
  t.ok(count(latency, /<polyline data-series=/g) >= 3, 'latency: a line per percentile (broken where nothing completed)')
  t.equal(count(latency, /data-series="p99"/g), 2, 'latency: the stall after the kill breaks the p99 line in two')
  t.equal(count(throughput, /<polyline data-series=/g), 4, 'throughput: one line per status class')
  for (const section of [latency, throughput]) {
    t.equal(count(section, /<rect data-band=/g), 1, 'the batch window is shaded')
    t.equal(count(section, /<line data-marker=/g), 2, 'the kill and the join are marked')
  }
  const chunks = charts[2]?.kind === 'gantt' ? charts[2].lanes.flatMap((lane) => lane.bars).length : 0
  t.equal(count(gantt, /<rect data-bar="chunk"/g), chunks, 'gantt: one bar per chunk')
  t.ok(chunks > 10, 'gantt: the fixture has chunks')
  const barRows = new Set([...gantt.matchAll(/<rect data-bar="chunk" x="[\d.]+" y="([\d.]+)"/g)].map((m) => m[1]))
  t.equal(barRows.size, 4, 'gantt: one row per lane, two for the worker holding two chunks at once')
  const values = charts[3]?.kind === 'bars' ? charts[3].series.flatMap((s) => s.values).filter((v) => v !== null).length : 0
  t.equal(count(bars, /<rect data-bar=/g), values, 'bars: one bar per non-null value')
  t.equal(count(bars, / s<\/text>/g), values, 'bars: a value label on each bar')
  t.equal(count(bars, /<g data-legend=/g), 3, 'bars: a legend entry per series')

  const screenshot = join(outDir, 'report.png')
  await runChromium(`--screenshot=${screenshot}`, `--window-size=${screenWidth},${screenHeight}`, '--hide-scrollbars', page)
  const png = decodePng(readFileSync(screenshot))
  t.same([png.width, png.height], [screenWidth, screenHeight], 'a PNG of the requested size')
  const colours = new Set<number>()
  let inked = 0
  const seen = (r: number, g: number, b: number) => {
    for (let i = 0; i < png.rgba.length; i += 4)
      if (Math.abs(png.rgba[i]! - r) < 8 && Math.abs(png.rgba[i + 1]! - g) < 8 && Math.abs(png.rgba[i + 2]! - b) < 8) return true
    return false
  }
  for (let i = 0; i < png.rgba.length; i += 4) {
    colours.add(png.rgba.readUInt32BE(i))
    if (png.rgba[i]! < 200 || png.rgba[i + 1]! < 200 || png.rgba[i + 2]! < 200) inked += 1
  }
  t.ok(colours.size > 200, `not blank: ${colours.size} distinct colours`)
  t.ok(inked / (png.width * png.height) > 0.01, `ink on ${((100 * inked) / (png.width * png.height)).toFixed(1)} % of the pixels`)
  t.ok(seen(0x1f, 0x77, 0xb4) && seen(0xd6, 0x27, 0x28), 'the chart palette is painted (blue series, red errors and markers)')
  t.comment(`page and screenshot: ${outDir}`)
})
