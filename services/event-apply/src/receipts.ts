import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * An application's receipt: what its 201 returns and its status route requires, so that knowing
 * someone's phone number (a 409 names the stored application) does not reveal their result.
 * An HMAC of the application under a key derived from AUTH_SECRET: every replica can issue and
 * check it, nothing is stored, and it is issued again only to whoever proves they own the entry
 * (the same account, in an ACCOUNT event).
 */
export function createReceipts(secret: string) {
  const key = createHmac('sha256', secret).update('event-apply application receipt v1').digest()
  const issue = (eventId: number, applicationId: string) =>
    createHmac('sha256', key).update(`${eventId}:${applicationId.toLowerCase()}`).digest().subarray(0, 16).toString('base64url')
  return {
    issue,
    /** Constant-time: a wrong receipt learns nothing from how long it took to refuse. */
    check(eventId: number, applicationId: string, receipt: string | undefined): boolean {
      if (receipt === undefined) return false
      const expected = Buffer.from(issue(eventId, applicationId))
      const given = Buffer.from(receipt)
      return given.length === expected.length && timingSafeEqual(given, expected)
    },
  }
}

export type Receipts = ReturnType<typeof createReceipts>
