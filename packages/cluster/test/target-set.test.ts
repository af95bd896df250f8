import t from 'tap'
import { decodeTargetSet, encodeTargetSet } from '../src/target-set.ts'

/** A seeded generator (mulberry32): the same sets on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let v = Math.imul(state ^ (state >>> 15), 1 | state)
    v ^= v + Math.imul(v ^ (v >>> 7), 61 | v)
    return ((v ^ (v >>> 14)) >>> 0) / 2 ** 32
  }
}

/** Ascending ids from `start`, each next one 1 + a gap below `maxGap`. */
function ids(seed: number, count: number, start: number, maxGap: number): number[] {
  const next = random(seed)
  const out: number[] = []
  for (let id = start, i = 0; i < count; i++, id += 1 + Math.floor(next() * maxGap)) out.push(id)
  return out
}

t.test('every id’s rank is its index among the targets, and -1 for every other id, in both encodings', async (t) => {
  for (const [name, targets] of [
    ['empty', []],
    ['one', [42]],
    ['dense from 1 (a bitmap)', ids(1, 5_000, 1, 3)],
    ['every user (a bitmap)', ids(2, 4_096, 1, 1)],
    ['sparse ids (offsets)', ids(3, 2_000, 1_000_000, 5_000)],
    ['ids past 2^32 (a bitmap over their span)', ids(4, 3_000, 2 ** 40, 2)],
  ] as const) {
    const set = decodeTargetSet(encodeTargetSet(targets))
    t.equal(set.size, targets.length, `${name}: size`)
    const members = new Set<number>(targets)
    let wrong = 0
    targets.forEach((id, index) => {
      if (set.rankOf(id) !== index) wrong++
    })
    const first = targets[0] ?? 0
    const last = targets[targets.length - 1] ?? 0
    for (let id = first - 40; id <= Math.min(last + 40, first + 200_000); id++) if (!members.has(id) && set.rankOf(id) !== -1) wrong++
    for (const outside of [0, -1, 0.5, Number.MAX_SAFE_INTEGER, Number.NaN]) if (!members.has(outside) && set.rankOf(outside) !== -1) wrong++
    t.equal(wrong, 0, `${name}: every rank right`)
  }
})

t.test('the smaller encoding is written: range/8 bytes when dense, 4 bytes a target when sparse', async (t) => {
  const dense = encodeTargetSet(ids(5, 100_000, 1, 2))
  t.ok(dense.length < 100_000 / 2, `dense: ${dense.length} bytes for 100k targets (a bitmap)`)
  const sparse = encodeTargetSet(ids(6, 10_000, 1, 1_000))
  t.ok(sparse.length <= 10_000 * 4 + 32, `sparse: ${sparse.length} bytes for 10k targets (offsets)`)
})

t.test('refuses ids out of order, a foreign buffer and a truncated one', async (t) => {
  t.throws(() => encodeTargetSet([3, 2]), /ascending/)
  t.throws(() => encodeTargetSet([1, 1]), /ascending/)
  t.throws(() => decodeTargetSet(Buffer.from('not a set at all, no')), /bad header/)
  const sparse = encodeTargetSet(ids(7, 100, 1, 1_000))
  t.throws(() => decodeTargetSet(sparse.subarray(0, sparse.length - 8)), /truncated/)
})
