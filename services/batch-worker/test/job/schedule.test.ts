import t from 'tap'
import { dueRun, type MonthlySchedule } from '../../src/job/schedule.ts'

const seoul: MonthlySchedule = { day: 1, time: '00:00', timeZone: 'Asia/Seoul', misfireGraceMs: 24 * 3_600_000 }

t.test('the run for a month fires at 00:00 on the 1st of the next month, Seoul time', async (t) => {
  // 2026-11-01 00:00 KST = 2026-10-31 15:00 UTC
  t.equal(dueRun(new Date('2026-10-31T14:59:59Z'), seoul), null, 'a second early: nothing due (October is past its grace)')
  t.same(dueRun(new Date('2026-10-31T15:00:00Z'), seoul), { period: '2026-10', fireAt: new Date('2026-10-31T15:00:00Z') })
  t.same(dueRun(new Date('2026-11-01T14:59:00Z'), seoul)?.period, '2026-10', 'still due within the grace (misfire)')
  t.equal(dueRun(new Date('2026-11-01T15:00:01Z'), seoul), null, 'past the grace: not started late')
})

t.test('year boundaries and other schedules', async (t) => {
  t.same(dueRun(new Date('2026-12-31T15:00:00Z'), seoul)?.period, '2026-12')
  t.same(dueRun(new Date('2027-01-01T03:00:00Z'), seoul)?.period, '2026-12')
  const fifthAt0930Utc: MonthlySchedule = { day: 5, time: '09:30', timeZone: 'UTC', misfireGraceMs: 40 * 86_400_000 }
  t.same(dueRun(new Date('2026-03-05T09:29:59Z'), fifthAt0930Utc), { period: '2026-01', fireAt: new Date('2026-02-05T09:30:00Z') })
  t.same(dueRun(new Date('2026-03-05T09:30:00Z'), fifthAt0930Utc), { period: '2026-02', fireAt: new Date('2026-03-05T09:30:00Z') })
})
