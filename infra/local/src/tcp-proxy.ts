import { createConnection, createServer, type Socket } from 'node:net'

/**
 * A plain TCP relay to a MariaDB server on loopback, listening on another address or port: the
 * local MariaDB binds 127.0.0.1 only, and a process in its own network namespace (netns.ts)
 * reaches the host through a veth address, never through the host's loopback. It can also lose
 * one connection the way a dead host or a dropped route does (blackholeNext).
 */
export interface TcpRelay {
  readonly host: string
  readonly port: number
  /**
   * Resolves once a client sends a MySQL packet that `match` picks (its payload: command byte,
   * then e.g. the SQL text of a COM_QUERY). That packet and everything after it on that
   * connection, both ways, is silently dropped: no FIN, no RST, as a host lost mid-conversation.
   * The relay's other connections go on.
   */
  blackholeNext(match: (payload: Buffer) => boolean): Promise<{ at: number }>
  close(): Promise<void>
}

/** COM_QUERY's payload is its command byte (3) and the SQL text. */
export const comQuery = (payload: Buffer): string | undefined => (payload[0] === 0x03 ? payload.subarray(1).toString('utf8') : undefined)

export async function startTcpRelay({
  listenHost,
  listenPort = 0,
  targetPort,
  targetHost = '127.0.0.1',
}: {
  listenHost: string
  listenPort?: number
  targetPort: number
  targetHost?: string
}): Promise<TcpRelay> {
  const open = new Set<Socket>()
  let armed: { match: (payload: Buffer) => boolean; resolve: (value: { at: number }) => void } | undefined
  const server = createServer((client) => {
    const upstream = createConnection({ host: targetHost, port: targetPort })
    let lost = false
    for (const [socket, peer] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      open.add(socket)
      socket.setNoDelay(true)
      socket.on('error', () => undefined)
      // One side gone: the other goes too (unless this connection was lost on purpose).
      socket.on('close', () => {
        open.delete(socket)
        if (!lost) peer.destroy()
      })
    }
    upstream.on('data', (chunk: Buffer) => {
      if (!lost) client.write(chunk)
    })
    // Client to server, framed into MySQL packets (3-byte little-endian length, 1-byte sequence)
    // so a match sees whole packets and the lost one never reaches the server in part.
    let pending: Buffer = Buffer.alloc(0)
    client.on('data', (chunk: Buffer) => {
      if (lost) return
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk
      let sent = 0
      while (pending.length - sent >= 4) {
        const end = sent + 4 + pending.readUIntLE(sent, 3)
        if (pending.length < end) break
        if (armed?.match(pending.subarray(sent + 4, end))) {
          lost = true
          upstream.write(pending.subarray(0, sent))
          armed.resolve({ at: performance.now() })
          armed = undefined
          return
        }
        sent = end
      }
      if (sent > 0) upstream.write(pending.subarray(0, sent))
      pending = pending.subarray(sent)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listenPort, listenHost, () => resolve())
  })
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('the relay has no TCP address')
  return {
    host: listenHost,
    port: address.port,
    blackholeNext(match) {
      if (armed) throw new Error('the relay is already waiting to lose a connection')
      return new Promise((resolve) => {
        armed = { match, resolve }
      })
    },
    async close() {
      for (const socket of open) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
