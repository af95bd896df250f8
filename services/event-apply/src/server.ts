import { boot } from '@commerce/kit'
import { buildApp } from './app.ts'
import { loadServiceConfig } from './config.ts'

await boot(loadServiceConfig, (config) => buildApp({ config }))
