import { v7 as uuidv7 } from 'uuid'
import type { FuzzRoute } from '@commerce/kit/fuzz'

/** A valid event window for POST /events. */
export const eventWindow = {
  title: 'Lunch draw',
  opensAt: '2030-01-01T04:00:00Z',
  closesAt: '2030-01-01T04:10:00Z',
  winnerQuota: 100,
  announceAt: '2030-01-02T04:00:00Z',
}

/**
 * event-apply's routes for the fuzzer, on what the caller seeded: events (an open PUBLIC one, an
 * open ACCOUNT one, a future one) and an application to one of them, with its receipt. The service's own fuzz test sends them to the app,
 * infra/local's edge test through nginx.
 */
export const eventFuzzRoutes = ({ events, application, receipt }: { events: readonly number[]; application: string; receipt: string }): FuzzRoute[] => {
  const id = [...events.map(String), '999999']
  return [
    { method: 'POST', path: '/events', body: eventWindow },
    { method: 'GET', path: '/events/:id', params: { id } },
    { method: 'POST', path: '/events/:id/applications', params: { id }, body: { name: 'Kim', phone: '010-1234-5678' } },
    {
      method: 'GET',
      path: '/events/:id/applications/:applicationId',
      params: { id, applicationId: [application, uuidv7()] },
      headers: { 'application-receipt': receipt },
    },
    { method: 'GET', path: '/events/:id/winners', params: { id } },
  ]
}
