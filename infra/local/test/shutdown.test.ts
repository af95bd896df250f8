import t from 'tap'
import { spawn } from 'node:child_process'
import { Client } from 'undici'
import { createTestDatabase } from '@commerce/db/testing'
import { isPortOpen, waitFor } from '../src/process.ts'
import { repoRoot } from '../src/paths.ts'
import { localAuthSecret } from '../src/secret.ts'

// A real replica process stopped with SIGTERM, as a rolling restart does, seen from a client that
// keeps connections alive like nginx: no request it sends on a kept-alive connection may be cut.
const port = 19_610

t.test(
  'SIGTERM: the replica drains — it keeps serving, also on connections kept alive from before, each answer with Connection: close — then stops',
  async (t) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'services/user-api/src/server.ts'], {
      cwd: repoRoot,
      stdio: 'ignore',
      env: {
        ...process.env,
        DATABASE_URL: await createTestDatabase(t),
        AUTH_SECRET: localAuthSecret(),
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: 'warn',
        SHUTDOWN_DRAIN_MS: '2000',
      },
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    t.teardown(() => child.kill('SIGKILL'))
    await waitFor('the replica to listen', () => isPortOpen(port), 60_000)

    // Two kept-alive connections opened before the stop, one left idle through it.
    const idle = new Client(`http://127.0.0.1:${port}`, { pipelining: 1, keepAliveTimeout: 60_000 })
    const busy = new Client(`http://127.0.0.1:${port}`, { pipelining: 1, keepAliveTimeout: 60_000 })
    t.teardown(() => Promise.all([idle.close(), busy.close()]))
    const health = async (client: Client) => {
      const response = await client.request({ method: 'GET', path: '/health' })
      await response.body.text()
      return { status: response.statusCode, connection: response.headers.connection }
    }
    t.same(await health(idle), { status: 200, connection: 'keep-alive' })
    t.same(await health(busy), { status: 200, connection: 'keep-alive' })

    child.kill('SIGTERM')
    // The drain has begun once an answer says Connection: close.
    let draining = await health(busy)
    for (let i = 0; draining.connection !== 'close' && i < 1_000; i++) draining = await health(busy)
    t.same(draining, { status: 200, connection: 'close' }, 'answers on, telling the client to close')
    t.same(await health(idle), { status: 200, connection: 'close' }, 'the connection idle since before the stop is still served')
    t.equal(await exited, 0, 'then it exits cleanly')
  },
)
