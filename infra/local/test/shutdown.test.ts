import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { connect, type Socket } from 'node:net'
import { Client } from 'undici'
import { createTestDatabase } from '@commerce/db/testing'
import { isPortOpen, waitFor } from '../src/process.ts'
import { repoRoot } from '../src/paths.ts'
import { localAuthSecret } from '../src/secret.ts'

// A real replica process stopped with SIGTERM, as a rolling restart does, seen from a client that
// keeps connections alive like nginx: no request it sends on a kept-alive connection may be cut.
const port = 19_610

/** A user-api replica as its own process on `port`, draining `drainMs` on SIGTERM. */
async function startReplica(t: Test, port: number, drainMs: number) {
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
      SHUTDOWN_DRAIN_MS: String(drainMs),
    },
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.teardown(() => child.kill('SIGKILL'))
  await waitFor('the replica to listen', () => isPortOpen(port), 60_000)
  return { child, exited }
}

t.test(
  'SIGTERM: the replica drains — it refuses new connections at once and keeps serving the ones kept alive from before, each answer with Connection: close — then stops',
  async (t) => {
    const { child, exited } = await startReplica(t, port, 2_000)

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
    // A refused connect is one nginx retries on a sibling, whatever the method: nothing was sent.
    t.notOk(await isPortOpen(port), 'a new connection is refused while it drains')
    t.same(await health(idle), { status: 200, connection: 'close' }, 'the connection idle since before the stop is still served')
    t.equal(await exited, 0, 'then it exits cleanly')
  },
)

t.test('once it stops accepting, a request on a connection it had accepted is answered, not reset', async (t) => {
  const otherPort = port + 1
  const { child, exited } = await startReplica(t, otherPort, 1_000)
  // What nginx holds at the instant a replica closes: a connection accepted, its request not read yet.
  const socket: Socket = await new Promise((resolve, reject) => {
    const opened = connect(otherPort, '127.0.0.1', () => resolve(opened)).once('error', reject)
  })
  t.teardown(() => socket.destroy())
  let received = ''
  let ended: string | undefined
  socket.on('data', (chunk) => (received += chunk.toString()))
  socket.on('error', (error: NodeJS.ErrnoException) => (ended = error.code ?? error.message))
  socket.on('close', () => (ended ??= 'closed'))

  child.kill('SIGTERM')
  await waitFor('the replica to refuse new connections', async () => !(await isPortOpen(otherPort)), 30_000)
  t.equal(ended, undefined, 'the accepted connection is still open once the replica stops listening')
  socket.write(`GET /health HTTP/1.1\r\nHost: 127.0.0.1:${otherPort}\r\n\r\n`)
  await waitFor('an answer or an end', async () => received.includes('\r\n\r\n') || ended !== undefined, 60_000)
  t.match(received, /^HTTP\/1\.1 200 /, `answered (${ended ?? 'open'})`)
  t.match(received.toLowerCase(), /\r\nconnection: close\r\n/, 'with Connection: close')
  t.equal(await exited, 0, 'then it exits cleanly')
})
