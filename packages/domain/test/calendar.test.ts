import t from 'tap'
import { localDateOf, parsePeriod, periodOf, periodPattern, zonedInstant } from '../src/calendar.ts'

t.test('a period is a calendar month of the business time zone, stored as UTC instants', async (t) => {
  t.same(parsePeriod('2026-10'), {
    period: '2026-10',
    start: new Date('2026-09-30T15:00:00Z'),
    end: new Date('2026-10-31T15:00:00Z'),
    couponExpiresAt: new Date('2026-11-30T14:59:59.999Z'),
  })
  t.same(parsePeriod('2026-12')?.end, new Date('2026-12-31T15:00:00Z'), 'December ends at the next year')
  t.same(parsePeriod('2028-02')?.end, new Date('2028-02-29T15:00:00Z'), 'a leap February has 29 days')
  t.same(parsePeriod('2026-10', 'UTC')?.start, new Date('2026-10-01T00:00:00Z'), 'another zone, another month')
})

t.test('malformed or pre-1970 periods are null, never a guess', async (t) => {
  for (const bad of ['2026-13', '2026-00', '2026-1', '26-10', '2026-10-01', ' 2026-10', '0026-10', '1969-12', '']) {
    t.equal(parsePeriod(bad), null, JSON.stringify(bad))
    if (bad !== '0026-10' && bad !== '1969-12') t.notOk(periodPattern.test(bad), `${JSON.stringify(bad)} does not have the shape`)
  }
})

t.test('periodOf and localDateOf read the wall clock of the zone', async (t) => {
  // 23:59:59.999 UTC on 31 Dec 2026 is already 1 Jan 2027 in Seoul.
  const instant = new Date('2026-12-31T15:00:00Z')
  t.equal(periodOf(instant), '2027-01')
  t.equal(periodOf(new Date(instant.getTime() - 1)), '2026-12')
  t.equal(periodOf(instant, 'UTC'), '2026-12')
  t.same(localDateOf(new Date('2028-02-29T14:59:00Z'), 'Asia/Seoul'), { year: 2028, month: 1, day: 29 })
})

t.test('zonedInstant: fields may overflow, and a zone with summer time gets the offset of the answer', async (t) => {
  t.same(zonedInstant(2026, 11, 32, 13 * 60, 'Asia/Seoul'), new Date('2027-01-01T04:00:00Z'), '32 December is 1 January')
  t.same(zonedInstant(2027, 6, 1, 0, 'Europe/Paris'), new Date('2027-06-30T22:00:00Z'), 'UTC+2 in summer')
  t.same(zonedInstant(2027, 0, 1, 0, 'Europe/Paris'), new Date('2026-12-31T23:00:00Z'), 'UTC+1 in winter')
  t.throws(() => zonedInstant(2027, 0, 1, 0, 'Mars/Olympus'), RangeError)
})
