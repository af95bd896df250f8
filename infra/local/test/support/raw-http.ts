import { connect } from 'node:net'

/**
 * Raw bytes to a port on a fresh connection, for requests no HTTP client would write (node:http
 * refuses control characters in a header); the status and body of the answer.
 */
export function rawRequest(port: number, request: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    socket.on('data', (chunk) => (text += chunk.toString('latin1')))
    socket.on('error', reject)
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) }))
    socket.write(request)
  })
}
