import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { localDb } from '@commerce/db'
import { localDir } from './paths.ts'
import { isPortOpen, readPid, requireCommand, run, stopPid, waitFor } from './process.ts'

const dir = join(localDir, 'mariadb')
const dataDir = join(dir, 'data')
const socket = join(dir, 'mysqld.sock')
const pidFile = join(dir, 'mysqld.pid')
const errorLog = join(dir, 'error.log')

const asRoot = process.getuid?.() === 0
const osUser = asRoot ? 'root' : (process.env.USER ?? 'root')

/** Server settings: durable commits, a buffer pool sized for the 30k/1M data set. */
const serverArgs = [
  '--no-defaults',
  `--datadir=${dataDir}`,
  `--socket=${socket}`,
  `--pid-file=${pidFile}`,
  `--log-error=${errorLog}`,
  `--port=${localDb.port}`,
  '--bind-address=127.0.0.1',
  `--user=${osUser}`,
  '--skip-name-resolve',
  '--innodb-flush-log-at-trx-commit=1',
  '--innodb-buffer-pool-size=2G',
  '--innodb-log-file-size=512M',
  '--innodb-log-buffer-size=64M',
  '--max-connections=500',
  '--max-allowed-packet=64M',
  '--character-set-server=utf8mb4',
  '--collation-server=utf8mb4_unicode_ci',
  '--default-time-zone=+00:00',
  '--local-infile=1',
]

export interface LocalDbStatus {
  /** True when this call started the server (so the caller may stop it again). */
  started: boolean
  pid: number
}

export async function startLocalDb(): Promise<LocalDbStatus> {
  const running = readPid(pidFile)
  if (running) return { started: false, pid: running }
  if (await isPortOpen(localDb.port)) {
    throw new Error(
      `port ${localDb.port} is in use by another program: stop it, set LOCAL_DB_PORT to a free port, or set DATABASE_URL to use that server`,
    )
  }
  const server = requireCommand('mariadbd', 'mariadb-server')
  const installDb = requireCommand('mariadb-install-db', 'mariadb-server')
  const client = requireCommand('mariadb', 'mariadb-client')
  mkdirSync(dir, { recursive: true })
  const fresh = !existsSync(join(dataDir, 'mysql'))
  if (fresh) {
    await run(installDb, ['--no-defaults', `--datadir=${dataDir}`, `--user=${osUser}`, '--skip-test-db', '--auth-root-authentication-method=socket'])
  }
  const log = openSync(join(dir, 'stdout.log'), 'a')
  const child = spawn(server, serverArgs, { detached: true, stdio: ['ignore', log, log] })
  child.unref()
  await waitFor('MariaDB', async () => existsSync(socket) && (await isPortOpen(localDb.port)), 60_000).catch((error: Error) => {
    throw new Error(`${error.message}; see ${errorLog}`)
  })
  if (fresh) {
    // unix_socket auth for root: only the local OS root may administer; the app user gets a password.
    const grants = ['localhost', '127.0.0.1']
      .map((host) => `CREATE USER IF NOT EXISTS '${localDb.user}'@'${host}' IDENTIFIED BY '${localDb.password}'; GRANT ALL PRIVILEGES ON *.* TO '${localDb.user}'@'${host}';`)
      .join(' ')
    await run(client, [`--socket=${socket}`, '-uroot', '-e', `${grants} FLUSH PRIVILEGES;`])
  }
  return { started: true, pid: readPid(pidFile) ?? child.pid ?? 0 }
}

export async function stopLocalDb(): Promise<boolean> {
  const pid = readPid(pidFile)
  if (!pid) return false
  // SIGTERM is a clean InnoDB shutdown; a large buffer pool may take a few seconds.
  await stopPid(pid, 60_000)
  return true
}

export function localDbPid(): number | undefined {
  return readPid(pidFile)
}
