import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))
/** Everything the local stack writes lives here (git-ignored). */
export const localDir = join(repoRoot, '.local')
