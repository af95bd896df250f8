import { loadConfig, baseConfigSchema, type BaseConfig } from './config.ts'
import { signToken, type Role } from './tokens.ts'

export const testSecret = 'test-secret-that-is-long-enough-for-hs256-0123456789'

/** A validated config for `buildApp` in tests: fast heartbeats, the given database. */
export function testConfig(databaseUrl: string, overrides: Record<string, string> = {}): BaseConfig {
  return loadConfig(baseConfigSchema, { DATABASE_URL: databaseUrl, AUTH_SECRET: testSecret, HEARTBEAT_MS: '100', LOG_LEVEL: 'silent', ...overrides })
}

export function bearer(userId: number, role: Role = 'user'): { authorization: string } {
  return { authorization: `Bearer ${signToken(testSecret, { userId, role })}` }
}
