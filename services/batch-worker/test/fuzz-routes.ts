import type { FuzzRoute } from '@commerce/kit/fuzz'

/**
 * batch-worker's routes for the fuzzer, on a closed event the caller seeded (and orders in October
 * 2026, so a run for it is admitted). The service's own fuzz test sends them all to the app;
 * through nginx only the console's copies are reachable (infra/local's edge test).
 */
export const batchFuzzRoutes = ({ closedEvent }: { closedEvent: number }): FuzzRoute[] => {
  const event = [String(closedEvent), '999999']
  return [
    { method: 'POST', path: '/runs', body: { period: '2026-10', strategy: 'bulk' } },
    { method: 'POST', path: '/runs', query: { dryRun: 'true' }, body: { period: '2026-10', force: true, reason: 'a reason of some length' } },
    { method: 'GET', path: '/runs/:id', params: { id: ['1', '2'] } },
    { method: 'GET', path: '/runs', query: { period: '2026-10' } },
    { method: 'POST', path: '/events/:id/draw', params: { id: event } },
    // The console's copies of them (its stream never ends, so it is in the auth test only).
    { method: 'POST', path: '/console/api/runs', query: { dryRun: 'true' }, body: { period: '2026-10' } },
    { method: 'GET', path: '/console/api/runs/:id', params: { id: ['1', '2'] } },
    { method: 'POST', path: '/console/api/events/:id/draw', params: { id: event } },
    { method: 'GET', path: '/console/api/snapshot' },
  ]
}
