import type { FuzzRoute } from '@commerce/kit/fuzz'

/**
 * user-api's routes for the fuzzer, on ids the caller seeded (users with orders in October 2026):
 * the service's own fuzz test sends them to the app, infra/local's edge test through nginx.
 */
export const userFuzzRoutes = ({ users }: { users: readonly number[] }): FuzzRoute[] => {
  const id = users.map(String)
  return [
    { method: 'GET', path: '/users/:id', params: { id } },
    { method: 'GET', path: '/users/:id/grade-history', params: { id } },
    { method: 'GET', path: '/users/:id/orders', params: { id }, query: { period: '2026-10', limit: '10' } },
    { method: 'POST', path: '/users/:id/orders', params: { id }, body: { amount: 12000, category: 'books' } },
  ]
}
