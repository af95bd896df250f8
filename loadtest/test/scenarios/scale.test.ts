import t from 'tap'
import { growthExponent } from '../../src/scenarios/scale.ts'

t.test('growthExponent: the log-log slope of a figure over the data factor', async (t) => {
  const at = (of: (x: number) => number) => [1, 3, 10].map((x) => ({ x, y: of(x) }))
  t.equal(growthExponent(at((x) => 5 * x)).toFixed(6), '1.000000', 'linear growth is 1, whatever the constant')
  t.equal(growthExponent(at((x) => x * x)).toFixed(6), '2.000000', 'quadratic growth is 2')
  t.equal(growthExponent(at(() => 7)).toFixed(6), '0.000000', 'a flat figure is 0')
  t.equal(growthExponent(at((x) => x * Math.log(x + 1))) > 1, true, 'n log n is above linear')
  t.ok(Number.isNaN(growthExponent([{ x: 1, y: 2 }])), 'one point has no slope')
  t.ok(
    Number.isNaN(
      growthExponent([
        { x: 1, y: 0 },
        { x: 3, y: 0 },
      ]),
    ),
    'figures that are not positive are left out',
  )
})
