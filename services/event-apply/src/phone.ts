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
  // 010 numbers have 8 digits after the prefix; the older 011/016–019 ranges a 3-digit exchange
  // (200–999) or a 4-digit one (1000–9999). A 4-digit exchange written with a leading zero is a
  // 3-digit one padded (011-0785-… is 011-785-…): one line must give one key, so the pad goes,
  // and an exchange that still starts with zero is no number at all.
  const legacy = /^(01[16789])0?([1-9]\d{2,3}\d{4})$/.exec(digits)
  if (legacy) return `${legacy[1]}${legacy[2]}`
  return /^010\d{8}$/.test(digits) ? digits : null
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
