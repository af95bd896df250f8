import type { ServiceName } from '@commerce/kit'

// The live benchmark's "guard off" rows: user-api and coupon-api built with a batch guard that
// never sees a batch (kit/testing's ignoreBatches), to measure what the guard buys. Stack option
// serverScripts starts these entries in place of the services' own server.ts.
export const unguardedServerScripts: Partial<Record<ServiceName, string>> = {
  'user-api': 'loadtest/src/baselines/user-api-unguarded.ts',
  'coupon-api': 'loadtest/src/baselines/coupon-api-unguarded.ts',
}
