import type { BatchTarget, BatchTargetSetPart, Pool, Rows } from '@commerce/db'
import type { Queryable } from './leases.ts'

/**
 * A run's target users in a compact, read-only form (batch_target_sets): what every API replica's
 * guard loads instead of one row per target. The planner fixes chunk numbers in user order
 * (chunk = ⌊rank / chunk size⌋), so a set that answers "rank of this user among the targets, or
 * -1" answers "which chunk recalculates them" too.
 *
 * Two encodings, the smaller is written:
 * - a bitmap over [base, base + bits): one bit per user id in the range, 1 for a target. Dense id
 *   ranges (the usual AUTO_INCREMENT ids) cost range / 8 bytes whatever the share of targets:
 *   375 KB for 3M users. Its rank is O(1): a prefix count per 32-bit word, built when decoded.
 * - sorted offsets from base (u32): 4 bytes per target, for sparse ids, rank by binary search.
 */
export interface TargetSet {
  readonly size: number
  /** The user's index among the targets in id order, or -1 when not a target. */
  rankOf(userId: number): number
  /** Bytes held in memory (the guard's figure). */
  readonly bytes: number
}

/** Bytes per stored part: well under any max_allowed_packet (MariaDB's default is 16 MiB). */
export const targetSetPartBytes = 1 << 20

const magic = 0x54530001 // "TS", version 1
const headerBytes = 4 + 1 + 4 + 8 + 4
const bitmapKind = 1
const offsetsKind = 2

function popcount(word: number): number {
  let v = word - ((word >>> 1) & 0x55555555)
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333)
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24
}

/** Encodes ascending, distinct user ids. Throws on ids out of order (a planner bug, never data). */
export function encodeTargetSet(ids: ArrayLike<number>): Buffer {
  const count = ids.length
  for (let i = 0, previous = Number.NEGATIVE_INFINITY; i < count; i++) {
    const id = ids[i] as number
    if (!(id > previous) || !Number.isSafeInteger(id)) throw new Error(`target ids must be ascending safe integers (${id} after ${previous})`)
    previous = id
  }
  const base = count === 0 ? 0 : (ids[0] as number)
  const last = count === 0 ? 0 : (ids[count - 1] as number)
  const span = count === 0 ? 0 : last - base + 1
  const bitmapBytes = Math.ceil(span / 32) * 4
  const useBitmap = bitmapBytes <= count * 4 && span < 2 ** 32
  if (!useBitmap && span > 2 ** 32) throw new Error('target ids span more than 2^32: not encodable as u32 offsets')
  const payloadBytes = useBitmap ? bitmapBytes : count * 4
  const out = Buffer.alloc(headerBytes + payloadBytes)
  out.writeUInt32LE(magic, 0)
  out.writeUInt8(useBitmap ? bitmapKind : offsetsKind, 4)
  out.writeUInt32LE(count, 5)
  out.writeDoubleLE(base, 9)
  out.writeUInt32LE(useBitmap ? span : count, 17)
  for (let i = 0; i < count; i++) {
    const offset = (ids[i] as number) - base
    if (useBitmap) {
      const at = headerBytes + (offset >>> 5) * 4
      out.writeUInt32LE((out.readUInt32LE(at) | (1 << (offset & 31))) >>> 0, at)
    } else {
      out.writeUInt32LE(offset, headerBytes + i * 4)
    }
  }
  return out
}

/** Reads what encodeTargetSet wrote (the parts concatenated). */
export function decodeTargetSet(encoded: Buffer): TargetSet {
  if (encoded.length < headerBytes || encoded.readUInt32LE(0) !== magic) throw new Error('not a target set (bad header)')
  const kind = encoded.readUInt8(4)
  const size = encoded.readUInt32LE(5)
  const base = encoded.readDoubleLE(9)
  const length = encoded.readUInt32LE(17)
  // A copy into an aligned typed array: the Buffer may be a slice of a larger, unaligned pool.
  const words = new Uint32Array((encoded.byteLength - headerBytes) >>> 2)
  Buffer.from(words.buffer).set(encoded.subarray(headerBytes, headerBytes + words.byteLength))
  if (kind === bitmapKind) {
    const span = length
    const before = new Uint32Array(words.length)
    for (let i = 0, total = 0; i < words.length; i++) {
      before[i] = total
      total += popcount(words[i] as number)
    }
    return {
      size,
      bytes: words.byteLength + before.byteLength,
      rankOf(userId) {
        const offset = userId - base
        if (!(offset >= 0 && offset < span)) return -1
        const word = words[offset >>> 5] as number
        const bit = offset & 31
        if (((word >>> bit) & 1) === 0) return -1
        return (before[offset >>> 5] as number) + popcount(bit === 0 ? 0 : (word & (0xffffffff >>> (32 - bit))) >>> 0)
      },
    }
  }
  if (kind === offsetsKind) {
    if (words.length !== length) throw new Error('target set truncated')
    return {
      size,
      bytes: words.byteLength,
      rankOf(userId) {
        const offset = userId - base
        if (!(offset >= 0 && offset < 2 ** 32)) return -1
        let lo = 0
        let hi = words.length - 1
        while (lo <= hi) {
          const mid = (lo + hi) >>> 1
          const value = words[mid] as number
          if (value === offset) return mid
          if (value < offset) lo = mid + 1
          else hi = mid - 1
        }
        return -1
      },
    }
  }
  throw new Error(`not a target set (kind ${kind})`)
}

// ---- storage: batch_target_sets -----------------------------------------------------------

/** Stores a run's targets (ascending ids) in parts; the planner calls it inside its plan's transaction. */
export async function storeTargetSet(conn: Queryable, runId: number, ids: ArrayLike<number>): Promise<void> {
  const encoded = encodeTargetSet(ids)
  const parts: unknown[][] = []
  for (let at = 0, part = 0; at < encoded.length; at += targetSetPartBytes, part++) parts.push([runId, part, encoded.subarray(at, at + targetSetPartBytes)])
  await conn.query('INSERT INTO batch_target_sets (run_id, part, bytes) VALUES ?', [parts])
}

/**
 * A run's targets as its planner stored them (a few rows), or — for a run planned before
 * batch_target_sets existed — encoded here from its batch_targets rows.
 */
export async function loadTargetSet(pool: Pool, runId: number): Promise<TargetSet> {
  const [parts] = await pool.query<Rows<Pick<BatchTargetSetPart, 'bytes'>>>('SELECT bytes FROM batch_target_sets WHERE run_id = ? ORDER BY part', [runId])
  if (parts.length > 0) return decodeTargetSet(Buffer.concat(parts.map((row) => row.bytes)))
  const [rows] = await pool.query<Rows<Pick<BatchTarget, 'userId'>>>('SELECT user_id AS userId FROM batch_targets WHERE run_id = ? ORDER BY user_id', [runId])
  return decodeTargetSet(encodeTargetSet(rows.map((row) => row.userId)))
}
