import { boot } from '@commerce/kit'
import { ignoreBatches } from '@commerce/kit/testing'
import { buildApp } from '@commerce/user-api'
import { loadServiceConfig } from '@commerce/user-api/config'

// user-api with a guard that never sees a batch (unguarded-apis.ts).
await boot(loadServiceConfig, (config) => buildApp({ config, createGuard: ignoreBatches }))
