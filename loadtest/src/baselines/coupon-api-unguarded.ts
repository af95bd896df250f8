import { boot } from '@commerce/kit'
import { ignoreBatches } from '@commerce/kit/testing'
import { buildApp } from '@commerce/coupon-api'
import { loadServiceConfig } from '@commerce/coupon-api/config'

// coupon-api with a guard that never sees a batch (unguarded-apis.ts).
await boot(loadServiceConfig, (config) => buildApp({ config, createGuard: ignoreBatches }))
