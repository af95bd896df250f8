import { inflateSync } from 'node:zlib'

/** An 8-bit RGB(A) PNG decoded to RGBA pixels: enough to look at chromium's screenshots. */
export interface DecodedPng {
  width: number
  height: number
  /** width × height × 4 bytes, row by row. */
  rgba: Buffer
}

const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

export function decodePng(file: Buffer): DecodedPng {
  if (!file.subarray(0, 8).equals(signature)) throw new Error('not a PNG: bad signature')
  let width = 0
  let height = 0
  let colorType = -1
  const data: Buffer[] = []
  for (let offset = 8; offset < file.length; ) {
    const length = file.readUInt32BE(offset)
    const type = file.toString('latin1', offset + 4, offset + 8)
    const body = file.subarray(offset + 8, offset + 8 + length)
    if (type === 'IHDR') {
      width = body.readUInt32BE(0)
      height = body.readUInt32BE(4)
      const [bitDepth, color, , , interlace] = [body[8], body[9], body[10], body[11], body[12]]
      if (bitDepth !== 8 || (color !== 2 && color !== 6) || interlace !== 0)
        throw new Error(`unsupported PNG: depth ${bitDepth}, colour type ${color}, interlace ${interlace}`)
      colorType = color
    } else if (type === 'IDAT') data.push(body)
    else if (type === 'IEND') break
    offset += 12 + length
  }
  if (colorType < 0) throw new Error('not a PNG: no IHDR')
  const channels = colorType === 6 ? 4 : 3
  const stride = width * channels
  const raw = inflateSync(Buffer.concat(data))
  if (raw.length !== height * (stride + 1)) throw new Error(`PNG data is ${raw.length} bytes, expected ${height * (stride + 1)}`)
  const rgba = Buffer.alloc(width * height * 4, 255)
  let previous = Buffer.alloc(stride)
  for (let row = 0; row < height; row++) {
    const filter = raw[row * (stride + 1)]
    const line = Buffer.from(raw.subarray(row * (stride + 1) + 1, (row + 1) * (stride + 1)))
    for (let i = 0; i < stride; i++) {
      const left = i >= channels ? line[i - channels]! : 0
      const up = previous[i]!
      const upLeft = i >= channels ? previous[i - channels]! : 0
      const predictor = filter === 0 ? 0 : filter === 1 ? left : filter === 2 ? up : filter === 3 ? (left + up) >> 1 : paeth(left, up, upLeft)
      line[i] = (line[i]! + predictor) & 0xff
    }
    for (let px = 0; px < width; px++) line.copy(rgba, (row * width + px) * 4, px * channels, px * channels + channels)
    previous = line
  }
  return { width, height, rgba }
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)]
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c
}
