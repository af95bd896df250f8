import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, relative } from 'node:path'
import { deployTargets, renderDeployedNginxConfig, renderedNginxFile } from '../nginx.ts'
import { repoRoot } from '../topology.ts'

// `pnpm --filter @commerce/deploy render:nginx`: writes the deployed nginx configs after a change
// to the shared template; infra/deploy's tests fail while a committed copy is out of date.
for (const target of deployTargets) {
  const file = renderedNginxFile[target]
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, renderDeployedNginxConfig(target))
  console.log(`wrote ${relative(repoRoot, file)}`)
}
