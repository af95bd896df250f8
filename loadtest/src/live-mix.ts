import { setTimeout as sleep } from 'node:timers/promises'
import type { Pool, RowDataPacket } from '@commerce/db'
import { signToken } from '@commerce/kit'
import { localAuthSecret } from '@commerce/local/secret'
import { median } from './report.ts'
import type { OpenModelRequest } from './open-model.ts'

// The write-up's live API mix (profile, coupon list, redeem, place order), shared by the
// live-during-batch bench (closed loop and open model) and the demo.

export const livePeriod = '2026-10'
const previousPeriod = '2026-09'

/** Every third user holds one ISSUED grade coupon of the previous month: the redeem targets. */
export const couponIdOf = (userId: number) => `01900000-0000-7000-8000-${userId.toString(16).padStart(12, '0')}`

export async function giveOldCoupons(pool: Pool, users: number): Promise<void> {
  const rows: unknown[][] = []
  for (let id = 3; id <= users; id += 3) {
    rows.push([
      Buffer.from(couponIdOf(id).replaceAll('-', ''), 'hex'),
      id,
      'GRADE',
      previousPeriod,
      1,
      3000,
      'ISSUED',
      '2026-10-01 00:00:00',
      '2099-12-31 00:00:00',
    ])
  }
  for (let i = 0; i < rows.length; i += 5_000) {
    await pool.query('INSERT INTO coupons (id, user_id, kind, period, slot, amount, status, issued_at, expires_at) VALUES ?', [rows.slice(i, i + 5_000)])
  }
}

export const liveMixKinds = ['profile', 'coupon list', 'redeem', 'place order'] as const

/**
 * One loop of the mix is four requests for one coupon-holding user. `label` keeps the
 * Idempotency-Keys of different runs apart; 202 bodies are collected in `deferredIds`.
 */
export function createLiveMix(users: number, label: string) {
  const secret = localAuthSecret()
  const tokens = new Map<number, string>()
  const tokenOf = (userId: number) => tokens.get(userId) ?? tokens.set(userId, `Bearer ${signToken(secret, { userId, role: 'user' })}`).get(userId)!
  const couponHolders = Math.max(1, Math.floor(users / 3))
  const deferredIds: string[] = []
  let keyCounter = 0

  const randomUser = () => 3 * (1 + Math.floor(Math.random() * couponHolders))
  /** Request `kind` (index into liveMixKinds) of a loop for `userId`. */
  const request = (kind: number, userId: number): OpenModelRequest => {
    const authorization = tokenOf(userId)
    switch (kind) {
      case 0:
        return { method: 'GET', path: `/users/${userId}`, headers: { authorization } }
      case 1:
        return { method: 'GET', path: `/users/${userId}/coupons?status=ISSUED`, headers: { authorization } }
      case 2:
        return { method: 'POST', path: `/coupons/${couponIdOf(userId)}/redeem`, headers: { authorization, 'idempotency-key': `${label}-${++keyCounter}` } }
      default:
        return {
          method: 'POST',
          path: `/users/${userId}/orders`,
          headers: { authorization, 'content-type': 'application/json' },
          body: JSON.stringify({ amount: 12_000, category: 'books' }),
        }
    }
  }
  const onRedeemResponse = (status: number, body: string) => {
    if (status === 202) deferredIds.push((JSON.parse(body) as { redemptionId: string }).redemptionId)
  }

  // Open model: request i belongs to loop ⌊i / 4⌋; each loop draws its user once.
  const loopUsers = new Map<number, number>()
  const openRequest = (index: number): OpenModelRequest => {
    const loop = Math.floor(index / 4)
    const userId = loopUsers.get(loop) ?? loopUsers.set(loop, randomUser()).get(loop)!
    if (index % 4 === 3) loopUsers.delete(loop)
    return request(index % 4, userId)
  }
  const onOpenResponse = (index: number, status: number, body: string) => {
    if (index % 4 === 2) onRedeemResponse(status, body)
  }
  return { randomUser, request, onRedeemResponse, openRequest, onOpenResponse, deferredIds }
}

export interface DeferredOutcome {
  count: number
  /** PENDING redemptions left after waiting (must be 0). */
  pendingLeft: number
  medianSeconds: number
  maxSeconds: number
}

/** Waits (≤ 60 s) until no redemption is PENDING, then reads how long the deferred ones took. */
export async function awaitDeferred(pool: Pool, deferredIds: string[]): Promise<DeferredOutcome> {
  let pendingLeft = Number.POSITIVE_INFINITY
  for (let waited = 0; waited < 60_000 && pendingLeft > 0; waited += 100) {
    const [[row]] = await pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM coupon_redemptions WHERE status = 'PENDING'")
    pendingLeft = Number(row?.n)
    if (pendingLeft > 0) await sleep(100)
  }
  let resolution: number[] = []
  if (deferredIds.length > 0) {
    const [rows] = await pool.query<RowDataPacket[]>(
      'SELECT TIMESTAMPDIFF(MICROSECOND, requested_at, resolved_at) / 1e6 AS seconds FROM coupon_redemptions WHERE id IN (?) AND resolved_at IS NOT NULL',
      [deferredIds.map((id) => Buffer.from(id.replaceAll('-', ''), 'hex'))],
    )
    resolution = rows.map((row) => Number(row.seconds))
  }
  return { count: deferredIds.length, pendingLeft, medianSeconds: median(resolution), maxSeconds: resolution.length ? Math.max(...resolution) : NaN }
}
