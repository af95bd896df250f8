import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { localDir } from './paths.ts'

const secretFile = join(localDir, 'auth-secret')

/**
 * The local stack's AUTH_SECRET: random per checkout, kept under .local/ (never committed),
 * shared by the replicas and `npm run token`. AUTH_SECRET in the environment wins.
 */
export function localAuthSecret(): string {
  if (process.env.AUTH_SECRET) return process.env.AUTH_SECRET
  if (!existsSync(secretFile)) {
    mkdirSync(localDir, { recursive: true })
    writeFileSync(secretFile, randomBytes(48).toString('base64url'), { mode: 0o600, flag: 'wx' })
  }
  return readFileSync(secretFile, 'utf8').trim()
}
