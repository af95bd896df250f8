import t from 'tap'
import { uuidPattern } from '../src/ids.ts'

t.test('a UUID in either case; its source means the same without the regex (a JSON Schema pattern)', async (t) => {
  const asSchemaPattern = new RegExp(uuidPattern.source)
  for (const [text, ok] of [
    ['0190b1e2-7c1a-7def-8abc-0123456789ab', true],
    ['0190B1E2-7C1A-7DEF-8ABC-0123456789AB', true],
    ['0190b1e27c1a7def8abc0123456789ab', false],
    ['0190b1e2-7c1a-7def-8abc-0123456789a', false],
    ['0190b1e2-7c1a-7def-8abc-0123456789abc', false],
    ['g190b1e2-7c1a-7def-8abc-0123456789ab', false],
    [' 0190b1e2-7c1a-7def-8abc-0123456789ab', false],
  ] as const) {
    t.equal(uuidPattern.test(text), ok, text)
    t.equal(asSchemaPattern.test(text), ok, `${text} as a schema pattern`)
  }
})
