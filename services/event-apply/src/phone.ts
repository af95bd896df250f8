/**
 * Korean mobile numbers in the spellings people type, reduced to digits: `010-1234-5678`,
 * `010 1234 5678`, `(010)1234.5678`, `+82 10-1234-5678`, `+82 (0)10…`, `0082-10-…`.
 * Returns null for anything that is not a mobile number, so the caller answers 400.
 */
export function normalisePhone(input: string): string | null {
  if (input.length > 32) return null
  let digits = input.replace(/[\s().-]/g, '')
  const international = /^(?:\+|00)82/.exec(digits)
  if (international) digits = `0${digits.slice(international[0].length).replace(/^0/, '')}`
  // 010 numbers have 8 digits after the prefix; the older 011/016–019 ranges 7 or 8.
  return /^(?:010\d{8}|01[16789]\d{7,8})$/.test(digits) ? digits : null
}

/** `01012345678` → `010-****-5678`: enough for a winner to recognise their number. */
export function maskPhone(phone: string): string {
  return `${phone.slice(0, 3)}-****-${phone.slice(-4)}`
}

/** A display name: 1–50 characters, no control or format characters, not only blanks. */
export function normaliseName(input: string): string | null {
  const name = input.trim()
  const length = [...name].length
  return length >= 1 && length <= 50 && !/\p{C}/u.test(name) ? name : null
}
