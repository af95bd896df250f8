import { customType } from 'drizzle-orm/mysql-core'
import { uuidPattern } from '@commerce/domain'

/** Text UUID -> 16 raw bytes (any bytes: the version and variant bits are not checked). */
export function uuidToBytes(value: string): Buffer {
  if (!uuidPattern.test(value)) throw new TypeError(`not a UUID: ${value}`)
  return Buffer.from(value.replaceAll('-', ''), 'hex')
}

/** 16 raw bytes -> lower-case text UUID. */
export function uuidFromBytes(value: Uint8Array): string {
  const hex = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/**
 * UUID stored as BINARY(16). drizzle's own `binary()` maps to a string and mangles
 * bytes above 0x7f, so we convert explicitly between the canonical text form and a Buffer.
 */
export const uuidBinary = customType<{ data: string; driverData: Buffer }>({
  dataType: () => 'binary(16)',
  toDriver: uuidToBytes,
  fromDriver: uuidFromBytes,
})

/**
 * An Idempotency-Key (`^[A-Za-z0-9_-]{1,64}$`, checked by the routes): ASCII compared byte for
 * byte, so keys differing only in case are different requests (the table default folds case).
 */
export const idempotencyKey = customType<{ data: string }>({
  dataType: () => 'varchar(64) CHARACTER SET ascii COLLATE ascii_bin',
})

export const isUuid = (value: string): boolean => uuidPattern.test(value)

/** Raw bytes up to 16 MiB (MEDIUMBLOB), as a Buffer both ways. */
export const mediumBlob = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => 'mediumblob',
})
