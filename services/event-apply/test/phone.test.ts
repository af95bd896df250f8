import t from 'tap'
import { maskPhone, normaliseName, normalisePhone } from '../src/phone.ts'

t.test('every common spelling of one mobile number normalises to the same digits', async (t) => {
  for (const spelling of [
    '010-1234-5678',
    '01012345678',
    '010 1234 5678',
    '010.1234.5678',
    '(010) 1234-5678',
    '+82 10-1234-5678',
    '+821012345678',
    '+82 (0)10 1234 5678',
    '0082-10-1234-5678',
    ' 010-1234-5678 ',
  ]) {
    t.equal(normalisePhone(spelling), '01012345678', spelling)
  }
  t.equal(normalisePhone('011-123-4567'), '0111234567', 'old 10-digit ranges')
})

t.test('a legacy 01X number is one key however its exchange is written: a zero-padded 3-digit exchange is the same line', async (t) => {
  for (const [a, b] of [
    ['011-785-5699', '011-0785-5699'],
    ['016-234-5678', '+82 16 0234 5678'],
    ['019-999-0000', '019-0999-0000'],
  ] as const) {
    t.not(normalisePhone(a), null, a)
    t.equal(normalisePhone(b), normalisePhone(a), `${b} is ${a}`)
  }
  t.equal(normalisePhone('011-1234-5678'), '01112345678', 'a 4-digit exchange stays as it is')
  t.equal(normalisePhone('011-085-5699'), null, 'no legacy exchange starts with 0')
  t.equal(normalisePhone('011-0085-5699'), null, 'padded or not')
})

t.test('anything that is not a Korean mobile number is refused', async (t) => {
  for (const bad of [
    '',
    '010-1234-567',
    '010-1234-56789',
    '02-123-4567',
    '+1 415 555 0100',
    '010-1234-567a',
    "010'; DROP TABLE x;--",
    '０１０-1234-5678',
    '1'.repeat(40),
    '+82 20-1234-5678',
  ]) {
    t.equal(normalisePhone(bad), null, JSON.stringify(bad))
  }
})

t.test('masking keeps the prefix and the last four digits', async (t) => {
  t.equal(maskPhone('01012345678'), '010-****-5678')
})

t.test('names: trimmed, 1–50 visible characters, no control characters', async (t) => {
  t.equal(normaliseName('  김철수 '), '김철수')
  t.equal(normaliseName('가'.repeat(50)), '가'.repeat(50))
  t.equal(normaliseName('가'.repeat(51)), null)
  for (const bad of ['', '   ', 'a\u0000b', 'line\nbreak', 'zero\u200bwidth', 'bell\u0007']) t.equal(normaliseName(bad), null, JSON.stringify(bad))
})
