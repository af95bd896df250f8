import { createSigner, createVerifier } from 'fast-jwt'

export type Role = 'user' | 'admin'
export interface Principal {
  /** User id (the JWT `sub`). */
  userId: number
  role: Role
  /** When the token expires (its `exp`, in ms since the epoch), if it says: what outlives one request (a stream) ends then. */
  expiresAtMs?: number
}

/** HS256 only: the verifier never accepts `none` or another algorithm. */
export function createTokenVerifier(secret: string) {
  const verify = createVerifier({ key: secret, algorithms: ['HS256'], cache: 1000, clockTolerance: 5 })
  return (token: string): Principal => {
    const claims = verify(token) as { sub?: unknown; role?: unknown; exp?: unknown }
    const userId = typeof claims.sub === 'string' && /^[1-9][0-9]{0,15}$/.test(claims.sub) ? Number(claims.sub) : Number.NaN
    if (!Number.isSafeInteger(userId)) throw new Error('sub must be a positive user id')
    if (claims.role !== 'user' && claims.role !== 'admin') throw new Error('role must be user or admin')
    return { userId, role: claims.role, ...(typeof claims.exp === 'number' ? { expiresAtMs: claims.exp * 1000 } : {}) }
  }
}

export function signToken(secret: string, principal: Principal, expiresInSec = 3600): string {
  const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: expiresInSec * 1000 })
  return sign({ sub: String(principal.userId), role: principal.role })
}
