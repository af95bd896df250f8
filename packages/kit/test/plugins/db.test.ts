import t, { type Test } from 'tap'
import { createTestDatabase } from '@commerce/db/testing'
import { createServiceApp } from '../../src/app.ts'
import { testConfig } from '../../src/testing.ts'

/** The warn lines a replica writes while it boots with these settings. */
async function bootWarnings(t: Test, overrides: Record<string, string>): Promise<{ msg: string; wanted?: number; maxConnections?: number }[]> {
  const lines: { level: number; msg: string; wanted?: number; maxConnections?: number }[] = []
  const config = testConfig(await createTestDatabase(t), overrides)
  const app = await createServiceApp({
    service: 'user-api',
    config,
    logger: { level: 'warn', stream: { write: (line: string) => lines.push(JSON.parse(line)) } },
  })
  t.teardown(() => app.close())
  await app.ready()
  return lines.filter((line) => line.level === 40)
}

t.test('a replica warns at boot when its pool at maximum scale exceeds the server max_connections', async (t) => {
  // 10 connections × 1,000 replicas: beyond any server default (151 on MariaDB and MySQL).
  const over = await bootWarnings(t, { DB_POOL_SIZE: '10', DB_MAX_REPLICAS: '1000' })
  t.match(over, [{ msg: /^connection budget: 1000 replicas × a pool of 10 exceed/, wanted: 10_000, maxConnections: Number }])
  t.ok(over[0]!.maxConnections! < 10_000, `the server allows ${over[0]?.maxConnections}`)

  t.same(await bootWarnings(t, { DB_POOL_SIZE: '10', DB_MAX_REPLICAS: '2' }), [], '20 connections: no warning')
})
