import { loadConfig, baseConfigSchema, type BaseConfig } from './config.ts'
import { signToken, type Role } from './tokens.ts'

export const testSecret = 'test-secret-that-is-long-enough-for-hs256-0123456789'

/** The environment tests boot services with: fast heartbeats, the given database. */
export function testEnv(databaseUrl: string, overrides: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_URL: databaseUrl, AUTH_SECRET: testSecret, HEARTBEAT_MS: '100', LOG_LEVEL: 'silent', ...overrides }
}

/** A validated base config for `buildApp` in tests; services with more settings load `testEnv`. */
export function testConfig(databaseUrl: string, overrides: Record<string, string> = {}): BaseConfig {
  return loadConfig(baseConfigSchema, testEnv(databaseUrl, overrides))
}

export function bearer(userId: number, role: Role = 'user'): { authorization: string } {
  return { authorization: `Bearer ${signToken(testSecret, { userId, role })}` }
}
