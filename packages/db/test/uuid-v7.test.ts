import t from 'tap'
import { validate, version } from 'uuid'
import { uuidV7 } from '../src/uuid-v7.ts'

t.test('ids are valid version-7 UUIDs, unique, and in creation order within one process', async (t) => {
  // More ids than one random pool holds (256), so refills are crossed, and many per millisecond.
  const ids = Array.from({ length: 5_000 }, () => uuidV7())
  t.ok(
    ids.every((id) => validate(id) && version(id) === 7),
    'every id is a valid v7',
  )
  t.equal(new Set(ids).size, ids.length, 'no id repeats')
  const outOfOrder = ids.findIndex((id, i) => i > 0 && id <= ids[i - 1]!)
  t.equal(outOfOrder, -1, 'each id sorts after the one made before it')
  const first = Number.parseInt(ids[0]!.replaceAll('-', '').slice(0, 12), 16)
  t.ok(Math.abs(first - Date.now()) < 60_000, 'the leading 48 bits are the time in ms')
})
