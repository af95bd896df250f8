import { createConnection, createServer, type Socket } from 'node:net'

/**
 * A plain TCP relay to a server on loopback, listening on another address: the local MariaDB
 * binds 127.0.0.1 only, and a process in its own network namespace (netns.ts) reaches the host
 * through a veth address, never through the host's loopback.
 */
export interface TcpRelay {
  readonly host: string
  readonly port: number
  close(): Promise<void>
}

export async function startTcpRelay({ listenHost, listenPort = 0, targetPort, targetHost = '127.0.0.1' }: { listenHost: string; listenPort?: number; targetPort: number; targetHost?: string }): Promise<TcpRelay> {
  const open = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = createConnection({ host: targetHost, port: targetPort })
    for (const [socket, peer] of [[client, upstream], [upstream, client]] as const) {
      open.add(socket)
      socket.setNoDelay(true)
      socket.on('error', () => undefined)
      // One side gone: the other goes too.
      socket.on('close', () => {
        open.delete(socket)
        peer.destroy()
      })
      socket.pipe(peer)
    }
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
    async close() {
      for (const socket of open) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
