import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem, platform, release } from 'node:os'
import { join } from 'node:path'
import { escapeXml, renderChart, type Chart } from './charts.ts'
import type { Pool, RowDataPacket } from '@commerce/db'
import { repoRoot } from '@commerce/local/paths'

export interface MachineInfo {
  cpus: number
  cpuModel: string
  memoryGiB: number
  os: string
  node: string
  database: string
  date: string
}

export async function machineInfo(pool: Pool): Promise<MachineInfo> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT VERSION() AS version')
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    node: process.version,
    database: String(rows[0]?.version),
    date: new Date().toISOString(),
  }
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? (sorted[middle] ?? NaN) : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2
}

/** A Markdown table from rows of equal keys. */
export function markdownTable(rows: Record<string, string | number>[]): string {
  const headers = Object.keys(rows[0] ?? {})
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`
  return [line(headers), line(headers.map(() => '---')), ...rows.map((row) => line(headers.map((h) => row[h] ?? '')))].join('\n')
}

/**
 * Writes reports/<timestamp>-<scenario>/report.{json,md,html}; returns the folder. The HTML page
 * shows the Markdown summary and the charts (charts.ts), self-contained for reading offline.
 */
export function writeReport(scenario: string, data: unknown, markdown: string, charts: Chart[] = []): string {
  const dir = join(repoRoot, 'reports', `${new Date().toISOString().replace(/[:.]/g, '-')}-${scenario}`)
  writeReportFiles(dir, data, markdown, charts)
  return dir
}

export function writeReportFiles(dir: string, data: unknown, markdown: string, charts: Chart[]): void {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'report.json'), `${JSON.stringify(data, null, 2)}\n`)
  writeFileSync(join(dir, 'report.md'), `${markdown}\n`)
  writeFileSync(join(dir, 'report.html'), reportHtml(markdown, charts))
}

export function reportHtml(markdown: string, charts: Chart[]): string {
  const title = /^# (.+)$/m.exec(markdown)?.[1] ?? 'Benchmark report'
  const figures = charts.map(
    (chart) => `<figure>\n${renderChart(chart)}${chart.caption ? `\n<figcaption>${inline(chart.caption)}</figcaption>` : ''}\n</figure>`,
  )
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeXml(title)}</title>
<style>
  body { font-family: 'DejaVu Sans', 'Liberation Sans', Arial, sans-serif; color: #222; margin: 24px auto; max-width: 1140px; padding: 0 16px; line-height: 1.45; }
  h1 { font-size: 24px; margin: 0 0 12px; }
  h2 { font-size: 19px; margin: 28px 0 8px; }
  p { margin: 6px 0; font-size: 14px; }
  table { border-collapse: collapse; font-size: 12px; margin: 12px 0; }
  th, td { border: 1px solid #ccc; padding: 3px 7px; }
  th { background: #f0f0f0; text-align: left; }
  td.number { text-align: right; font-variant-numeric: tabular-nums; }
  .table { overflow-x: auto; }
  figure { margin: 18px 0; border: 1px solid #ddd; border-radius: 4px; overflow: hidden; }
  figure svg { display: block; max-width: 100%; height: auto; }
  figcaption { font-size: 13px; color: #555; padding: 6px 16px 10px; }
  code { font-family: 'DejaVu Sans Mono', monospace; font-size: 0.95em; background: #f4f4f4; padding: 0 3px; }
</style>
</head>
<body>
${markdownToHtml(markdown)}
${figures.length ? `<h2>Charts</h2>\n${figures.join('\n')}` : ''}
</body>
</html>
`
}

/** The Markdown our reports write: headings, paragraphs, pipe tables, `code` and **bold**. */
export function markdownToHtml(markdown: string): string {
  const blocks: string[] = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; ) {
    const line = lines[i]!
    const heading = /^(#{1,6}) (.*)$/.exec(line)
    if (heading) {
      blocks.push(`<h${heading[1]!.length}>${inline(heading[2]!)}</h${heading[1]!.length}>`)
      i += 1
    } else if (line.startsWith('|')) {
      const rows: string[] = []
      while (i < lines.length && lines[i]!.startsWith('|')) rows.push(lines[i++]!)
      blocks.push(table(rows))
    } else if (line.trim() === '') {
      i += 1
    } else {
      blocks.push(`<p>${inline(line)}</p>`)
      i += 1
    }
  }
  return blocks.join('\n')
}

function table(rows: string[]): string {
  const cells = (row: string) =>
    row
      .replace(/^\|/, '')
      .replace(/\|$/, '')
      .split('|')
      .map((cell) => cell.trim())
  const [header = '', , ...body] = rows
  const numeric = /^[-+]?[\d,.]+( ?%| [a-z]+)?$/
  return [
    '<div class="table"><table>',
    `<thead><tr>${cells(header)
      .map((c) => `<th>${inline(c)}</th>`)
      .join('')}</tr></thead>`,
    `<tbody>${body
      .map(
        (row) =>
          `<tr>${cells(row)
            .map((c) => `<td${numeric.test(c) ? ' class="number"' : ''}>${inline(c)}</td>`)
            .join('')}</tr>`,
      )
      .join('\n')}</tbody>`,
    '</table></div>',
  ].join('\n')
}

const inline = (text: string) =>
  escapeXml(text)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
