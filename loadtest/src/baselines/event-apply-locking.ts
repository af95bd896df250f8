import { boot } from '@commerce/kit'
import { buildApp } from '@commerce/event-apply'
import { loadServiceConfig } from '@commerce/event-apply/config'
import { lockingWriter } from './locking-apply.ts'

// event-apply on the write-up's lock-based design: what `npm run bench -- event` runs as its
// baseline replicas (stack option serverScripts), in place of services/event-apply/src/server.ts.
await boot(loadServiceConfig, (config) => buildApp({ config, applicationWriter: lockingWriter }))
