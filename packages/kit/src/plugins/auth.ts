import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { kitErrors } from '../errors.ts'
import { createTokenVerifier, type Principal } from '../tokens.ts'

export function createAuth(secret: string) {
  const verify = createTokenVerifier(secret)

  function principal(request: FastifyRequest): Principal {
    const header = request.headers.authorization
    const match = header?.match(/^Bearer ([A-Za-z0-9_.-]{1,4096})$/)
    if (!match?.[1]) throw kitErrors.UNAUTHORIZED()
    try {
      return verify(match[1])
    } catch {
      throw kitErrors.UNAUTHORIZED('token is invalid or expired')
    }
  }

  return {
    principal,
    /** A user reaches only their own resources; admins reach anyone's. */
    requireSelfOrAdmin(request: FastifyRequest, userId: number): Principal {
      const who = principal(request)
      if (who.role !== 'admin' && who.userId !== userId) throw kitErrors.FORBIDDEN()
      return who
    },
    requireAdmin(request: FastifyRequest): Principal {
      const who = principal(request)
      if (who.role !== 'admin') throw kitErrors.FORBIDDEN('admin only')
      return who
    },
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    auth: ReturnType<typeof createAuth>
  }
}

/** Bearer JWT (HS256, AUTH_SECRET) with claims `sub` and `role`. */
export default fp<{ secret: string }>(
  async (app, { secret }) => {
    app.decorate('auth', createAuth(secret))
  },
  { name: 'auth' },
)
