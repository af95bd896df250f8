import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem, platform, release } from 'node:os'
import { join } from 'node:path'
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

/** Writes reports/<timestamp>-<scenario>/report.{json,md}; returns the folder. */
export function writeReport(scenario: string, data: unknown, markdown: string): string {
  const dir = join(repoRoot, 'reports', `${new Date().toISOString().replace(/[:.]/g, '-')}-${scenario}`)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'report.json'), `${JSON.stringify(data, null, 2)}\n`)
  writeFileSync(join(dir, 'report.md'), `${markdown}\n`)
  return dir
}
