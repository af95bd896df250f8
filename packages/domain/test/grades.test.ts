import t from 'tap'
import { defaultGradePolicy, gradeFor } from '../src/grades.ts'

t.test('a grade is the highest threshold the PAID total reaches', async (t) => {
  const cases: [number, string][] = [
    [0, 'BRONZE'],
    [199_999, 'BRONZE'],
    [200_000, 'SILVER'],
    [499_999, 'SILVER'],
    [500_000, 'GOLD'],
    [999_999, 'GOLD'],
    [1_000_000, 'VIP'],
    [Number.MAX_SAFE_INTEGER, 'VIP'],
  ]
  for (const [total, grade] of cases) t.equal(gradeFor(total, defaultGradePolicy), grade, `${total} KRW`)
  t.equal(gradeFor(10, { ...defaultGradePolicy, thresholds: { VIP: 30, GOLD: 20, SILVER: 10 } }), 'SILVER', 'thresholds come from the policy')
})
