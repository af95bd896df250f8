import t from 'tap'
import { dailyEvents } from '../src/daily-events.ts'

t.test('daily events: 13:00 Asia/Seoul for 10 minutes, announced the next day at 13:00', async (t) => {
  const schedule = { time: '13:00', timeZone: 'Asia/Seoul', durationMinutes: 10, winnerQuota: 100 }
  // 2026-11-22 23:30 UTC is already 2026-11-23 08:30 in Seoul.
  const [today, tomorrow] = dailyEvents(new Date('2026-11-22T23:30:00Z'), schedule)
  t.match(today, {
    scheduleKey: 'daily:2026-11-23',
    winnerQuota: 100,
    opensAt: new Date('2026-11-23T04:00:00Z'),
    closesAt: new Date('2026-11-23T04:10:00Z'),
    announceAt: new Date('2026-11-24T04:00:00Z'),
  })
  t.match(tomorrow, { scheduleKey: 'daily:2026-11-24', opensAt: new Date('2026-11-24T04:00:00Z') })
  const [endOfMonth] = dailyEvents(new Date('2026-12-31T10:00:00Z'), schedule)
  t.match(endOfMonth, { scheduleKey: 'daily:2026-12-31', announceAt: new Date('2027-01-01T04:00:00Z') }, 'the announcement rolls into the next year')
})

t.test('the schedule follows the zone it names, not the host', async (t) => {
  // 12:00 UTC on 1 March 2027 is 13:00 in Paris (UTC+1, before its switch to summer time).
  const [today] = dailyEvents(new Date('2027-03-01T00:30:00Z'), { time: '13:00', timeZone: 'Europe/Paris', durationMinutes: 5, winnerQuota: 3 })
  t.match(today, { scheduleKey: 'daily:2027-03-01', opensAt: new Date('2027-03-01T12:00:00Z'), closesAt: new Date('2027-03-01T12:05:00Z'), winnerQuota: 3 })
  // The day after Paris moves to summer time, 13:00 is 11:00 UTC.
  const [, afterSwitch] = dailyEvents(new Date('2027-03-27T10:00:00Z'), { time: '13:00', timeZone: 'Europe/Paris', durationMinutes: 5, winnerQuota: 3 })
  t.match(afterSwitch, { scheduleKey: 'daily:2027-03-28', opensAt: new Date('2027-03-28T11:00:00Z') })
})
