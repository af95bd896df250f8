import t, { type Test } from 'tap'
import { createTestDatabase } from '@commerce/db/testing'
import { createServiceApp } from '../../src/app.ts'
import { testConfig } from '../../src/testing.ts'

/** An app whose log lines land in `lines`, with a fast, a slow and a failing route. */
async function appLogging(t: Test, overrides: Record<string, string>) {
  const lines: { level: number; msg: string; reqId?: string; res?: { statusCode: number }; req?: { url: string } }[] = []
  const config = testConfig(await createTestDatabase(t), { LOG_LEVEL: 'info', ...overrides })
  const app = await createServiceApp({
    service: 'user-api',
    config,
    logger: { level: 'info', stream: { write: (line: string) => lines.push(JSON.parse(line)) } },
  })
  t.teardown(() => app.close())
  app.get('/fast', async () => ({ ok: true }))
  // The stimulus of a slow request: this handler answers 40 ms later (the threshold is 20).
  app.get('/slow', () => new Promise((resolve) => setTimeout(() => resolve({ ok: true }), 40)))
  app.get('/boom', async () => {
    throw new Error('a bug')
  })
  await app.ready()
  const requestLines = () => lines.filter((line) => line.req !== undefined)
  return { app, requestLines }
}

t.test('a fast successful request writes no line; a 5xx and a slow request always do', async (t) => {
  const { app, requestLines } = await appLogging(t, { LOG_SLOW_REQUEST_MS: '20', LOG_REQUEST_SAMPLE: '0' })
  for (let i = 0; i < 20; i++) t.equal((await app.inject({ url: '/fast' })).statusCode, 200)
  t.same(requestLines(), [], 'twenty fast 200s, not one line')

  const slow = await app.inject({ url: '/slow' })
  const failed = await app.inject({ url: '/boom' })
  t.equal(failed.statusCode, 500)
  t.match(requestLines(), [
    { level: 40, msg: 'slow request', req: { url: '/slow' }, res: { statusCode: 200 }, reqId: slow.headers['x-request-id'] },
    { level: 50, msg: 'request failed', req: { url: '/boom' }, res: { statusCode: 500 }, reqId: failed.headers['x-request-id'] },
  ])
})

t.test('LOG_REQUEST_SAMPLE=1 logs every request, as Fastify did by default', async (t) => {
  const { app, requestLines } = await appLogging(t, { LOG_SLOW_REQUEST_MS: '60000', LOG_REQUEST_SAMPLE: '1' })
  for (let i = 0; i < 3; i++) await app.inject({ url: '/fast' })
  t.match(
    requestLines(),
    Array.from({ length: 3 }, () => ({ level: 30, msg: 'request completed', res: { statusCode: 200 } })),
  )
})
