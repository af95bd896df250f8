import { Server } from 'node:net'
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import type { BaseConfig } from './config.ts'

/**
 * What every `server.ts` does: listen, and on SIGTERM/SIGINT close gracefully (stop accepting
 * connections, leave the cluster, finish in-flight work and requests already on open connections,
 * close pools) within the grace period.
 */
export async function startServer(app: FastifyInstance, config: BaseConfig): Promise<void> {
  let draining = false
  // A callback hook: an async onSend defers every answer's end by a microtask.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (draining) reply.header('connection', 'close')
    done(null, payload)
  })
  closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down')
    // Drain (see SHUTDOWN_DRAIN_MS): serving on the connections already open, each closed after its
    // next answer, until the load balancer holds no idle connection to this replica any more.
    if (!err && app.server.listening) {
      draining = true
      // Stop accepting now, not after the drain: nginx's next connect here is refused, which it
      // retries on a sibling (nothing was sent) and which marks this replica down for every
      // worker. Closing the listener later, while nginx opens a connection per request (each
      // answer says close), would reset the connections waiting in the accept queue, under POSTs
      // nginx has sent and never resends. net's close, not http's: that one also closes idle
      // kept-alive connections, which nginx may be sending a request on.
      Server.prototype.close.call(app.server)
      await new Promise((resolve) => setTimeout(resolve, Math.min(config.SHUTDOWN_DRAIN_MS, config.SHUTDOWN_GRACE_MS / 2)))
    }
    await app.close()
  })
  try {
    // A burst (the event's opening second) makes nginx open hundreds of upstream connections at
    // once; Node's default accept backlog of 511 overflows then, and nginx's connects time out.
    await app.listen({ host: config.HOST, port: config.PORT, backlog: 4096 })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const reason = code === 'EADDRINUSE' ? `port ${config.PORT} is already in use: stop whatever holds it or set PORT` : String(error)
    console.error(`error: ${reason}`)
    await app.close().catch(() => undefined)
    process.exit(1)
  }
}

/** Loads config and builds the app, turning a bad environment into a one-line error. */
export async function boot<C extends BaseConfig>(load: () => C, build: (config: C) => Promise<FastifyInstance>): Promise<void> {
  let config: C
  try {
    config = load()
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  }
  const app = await build(config)
  await startServer(app, config)
}
