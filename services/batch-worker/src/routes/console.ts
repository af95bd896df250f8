import { readFileSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { errorSchema, kitErrors } from '@commerce/kit'
import { databaseClock, type Clock } from '../clock.ts'
import { consoleSnapshotSchema } from '../console/snapshot.ts'
import eventRoutes from './event-draws.ts'
import runRoutes from './runs.ts'

// The page is three files with no build step (docs/DESIGN.md, "The console"); read once at boot.
const uiFolder = new URL('../../console-ui/', import.meta.url)
const assets = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
} as const
// Everything the page loads is its own; nothing inline, nothing from elsewhere.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
const keepaliveMs = 15_000
// The longest delay setTimeout keeps (about 24.8 days); a token may live longer (`npm run token -- --ttl`).
const maxTimerMs = 2 ** 31 - 1
const tokenExpired = `event: expired\ndata: ${JSON.stringify({ code: kitErrors.UNAUTHORIZED().code, message: 'the token expired; sign in with a new one' })}\n\n`

/** Calls `then` once `ms` have passed on the monotonic clock, however long that is; returns its cancel. */
function after(ms: number, then: () => void): () => void {
  const deadline = performance.now() + ms
  let timer: NodeJS.Timeout
  const arm = () => {
    const left = deadline - performance.now()
    timer = left > maxTimerMs ? setTimeout(arm, maxTimerMs) : setTimeout(then, left)
  }
  arm()
  return () => clearTimeout(timer)
}

/**
 * The operations console at /console/: the page, its data (a snapshot, and the same snapshot as a
 * Server-Sent Events stream) and its actions, which are the daemon's own run and draw routes
 * under /console/api, so they keep the same validation and error codes. Everything but the page's
 * files needs an admin token.
 */
export default async function consoleRoutes(parent: FastifyInstance, { heartbeatMs, clock }: { heartbeatMs: number; clock?: Clock }) {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>()
  const now = clock ?? databaseClock(app.pool)
  const files = Object.entries(assets).map(([name, type]) => ({ name, type, body: readFileSync(new URL(name, uiFolder)) }))

  app.get('/console', (_request, reply) => reply.redirect('/console/', 301))
  for (const file of files) {
    app.get(file.name === 'index.html' ? '/console/' : `/console/${file.name}`, (_request, reply) =>
      reply.header('content-type', file.type).header('cache-control', 'no-cache').header('content-security-policy', contentSecurityPolicy).send(file.body),
    )
  }

  await app.register(
    async (api) => {
      // Before anything is parsed: read-only or not, the console is for admins.
      api.addHook('onRequest', async (request) => {
        app.auth.requireAdmin(request)
      })
      const guarded = api.withTypeProvider<TypeBoxTypeProvider>()

      guarded.get(
        '/snapshot',
        { schema: { security: [{ bearer: [] }], response: { 200: consoleSnapshotSchema, 401: errorSchema, 403: errorSchema } } },
        async () => (await app.consoleFeed.latest()).snapshot,
      )

      // Open streams, ended before the server closes (else a stream ends only when its token expires).
      const streams = new Set<ServerResponse>()
      api.addHook('preClose', async () => {
        for (const stream of streams) stream.end()
      })
      guarded.get('/stream', { schema: { security: [{ bearer: [] }], response: { 401: errorSchema, 403: errorSchema } } }, async (request, reply) => {
        // The token was checked as the stream opened; the stream must not outlive it either. Its
        // end is judged on the service's clock (the database's, shared by every replica), where
        // the token is read once: a token already expired there does not open one.
        const { expiresAtMs = Number.POSITIVE_INFINITY } = app.auth.principal(request)
        const leftMs = expiresAtMs - (await now()).getTime()
        if (leftMs <= 0) throw kitErrors.UNAUTHORIZED('token is invalid or expired')
        reply.hijack()
        const stream = reply.raw
        // X-Accel-Buffering: nginx passes each event on at once instead of buffering the response.
        stream.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' })
        stream.write('retry: 2000\n\n')
        streams.add(stream)
        // A stream may end (token expired, server closing) while a snapshot is being read.
        const write = (text: string) => {
          if (!stream.writableEnded) stream.write(text)
        }
        let sent = ''
        let quietMs = 0
        const send = async () => {
          try {
            const { json } = await app.consoleFeed.latest()
            if (json !== sent) {
              sent = json
              quietMs = 0
              write(`event: snapshot\ndata: ${json}\n\n`)
            } else {
              quietMs += app.consoleFeed.refreshMs
              // A comment line: keeps proxies from closing an idle stream.
              if (quietMs >= keepaliveMs) {
                quietMs = 0
                write(': keepalive\n\n')
              }
            }
          } catch (error) {
            request.log.warn({ err: error }, 'console snapshot not read')
            write('event: unavailable\ndata: {"code":"CONSOLE_UNAVAILABLE","message":"the database did not answer; retrying"}\n\n')
          }
        }
        const timer = setInterval(send, app.consoleFeed.refreshMs)
        // The page asks for a new token on this event (console-ui/console.js).
        const cancelExpiry = Number.isFinite(leftMs) ? after(leftMs, () => stream.end(tokenExpired)) : () => undefined
        stream.on('close', () => {
          clearInterval(timer)
          cancelExpiry()
          streams.delete(stream)
        })
        await send()
      })

      await api.register(runRoutes, { heartbeatMs })
      await api.register(eventRoutes)
    },
    { prefix: '/console/api' },
  )
}
