import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { localDb } from '@commerce/db'
import { localDir } from './paths.ts'
import { isPortOpen, readPid, requireCommand, run, stopPid, waitFor } from './process.ts'

const asRoot = process.getuid?.() === 0
const osUser = asRoot ? 'root' : (process.env.USER ?? 'root')

export interface LocalDbStatus {
  /** True when this call started the server (so the caller may stop it again). */
  started: boolean
  pid: number
}

export interface MariaDbServerOptions {
  /** Holds the datadir, socket, pid file and logs. */
  dir: string
  port: number
  /** The shared dev server sizes it for the 30k/1M data set; a throwaway server needs far less. */
  bufferPoolSize?: string
  logFileSize?: string
  /** More server settings (a Galera node's wsrep ones). */
  extraArgs?: readonly string[]
  /** Creates the app user after a fresh install; false for a server that receives it from another (a Galera joiner's SST). */
  createUser?: boolean
  /** How long a start may take to open its port: a bound for a hang (a Galera joiner copies the datadir first). */
  startTimeoutMs?: number
  /** Prefixes the server's command, e.g. `env LD_PRELOAD=…libfaketime… FAKETIME=+3s` for a server on a clock of its own. */
  launcher?: readonly string[]
  /**
   * The OS user the server runs as (default: this one). A Galera node runs as `mysql`: the rsync
   * daemon its state transfer starts would otherwise drop from root to `nobody`, who cannot read the datadir.
   */
  runAs?: string
}

/** One MariaDB server of its own: its folder, its port, the app user of `localDb` with its password. */
export interface MariaDbServer {
  readonly port: number
  /** `mysql://app:app@127.0.0.1:<port>/<database>` */
  url(database: string): string
  /**
   * Starts it (installing a fresh datadir the first time) unless it is already running; `startArgs`
   * are settings for this start only (a Galera bootstrap's `--wsrep-new-cluster`).
   */
  start(startArgs?: readonly string[]): Promise<LocalDbStatus>
  /** A clean InnoDB shutdown (SIGTERM); false when it was not running. */
  stop(): Promise<boolean>
  pid(): number | undefined
  /** Runs one SQL text as the OS root over the socket; returns what the client printed (tab-separated, no headers). */
  rootQuery(sql: string): Promise<string>
  /** The datadir and the server settings, for a caller that runs the server binary another way (a Galera recovery). */
  readonly dataDir: string
  readonly serverArgs: readonly string[]
}

export function mariaDbServer({
  dir,
  port,
  bufferPoolSize = '2G',
  logFileSize = '512M',
  extraArgs = [],
  createUser = true,
  startTimeoutMs = 60_000,
  launcher = [],
  runAs = osUser,
}: MariaDbServerOptions): MariaDbServer {
  const dataDir = join(dir, 'data')
  const socket = join(dir, 'mysqld.sock')
  const pidFile = join(dir, 'mysqld.pid')
  const errorLog = join(dir, 'error.log')
  /** Server settings: durable commits, a buffer pool sized by the caller. */
  const serverArgs = [
    '--no-defaults',
    `--datadir=${dataDir}`,
    `--socket=${socket}`,
    `--pid-file=${pidFile}`,
    `--log-error=${errorLog}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--user=${runAs}`,
    '--skip-name-resolve',
    '--innodb-flush-log-at-trx-commit=1',
    `--innodb-buffer-pool-size=${bufferPoolSize}`,
    `--innodb-log-file-size=${logFileSize}`,
    '--innodb-log-buffer-size=64M',
    '--max-connections=500',
    '--max-allowed-packet=64M',
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_unicode_ci',
    '--default-time-zone=+00:00',
    '--local-infile=1',
    ...extraArgs,
  ]
  const rootQuery = (sql: string) => run(requireCommand('mariadb', 'mariadb-client'), [`--socket=${socket}`, '-uroot', '-N', '-B', '-e', sql])

  return {
    port,
    url: (database) => `mysql://${localDb.user}:${localDb.password}@127.0.0.1:${port}/${database}`,
    pid: () => readPid(pidFile),
    rootQuery,
    dataDir,
    serverArgs,
    async start(startArgs = []) {
      const running = readPid(pidFile)
      if (running) return { started: false, pid: running }
      if (await isPortOpen(port)) {
        throw new Error(`port ${port} is in use by another program: stop it, set LOCAL_DB_PORT to a free port, or set DATABASE_URL to use that server`)
      }
      const server = requireCommand('mariadbd', 'mariadb-server')
      const installDb = requireCommand('mariadb-install-db', 'mariadb-server')
      mkdirSync(dir, { recursive: true })
      if (runAs !== osUser) await run('chown', ['-R', `${runAs}:`, dir])
      const fresh = !existsSync(join(dataDir, 'mysql'))
      if (fresh) {
        await run(installDb, ['--no-defaults', `--datadir=${dataDir}`, `--user=${runAs}`, '--skip-test-db', '--auth-root-authentication-method=socket'])
      }
      const log = openSync(join(dir, 'stdout.log'), 'a')
      const [command = server, ...args] = [...launcher, server, ...serverArgs, ...startArgs]
      const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log] })
      child.unref()
      // A server that exits while starting (a bad setting, a failed state transfer) fails the start at once, not at the timeout.
      let exited: number | null | undefined
      child.once('exit', (code) => {
        exited = code
      })
      await waitFor(
        'MariaDB',
        async () => {
          if (exited !== undefined) throw new Error(`MariaDB exited with ${exited} while starting; see ${errorLog}`)
          return existsSync(socket) && (await isPortOpen(port))
        },
        startTimeoutMs,
      ).catch((error: Error) => {
        throw error.message.includes(errorLog) ? error : new Error(`${error.message}; see ${errorLog}`)
      })
      if (fresh && createUser) {
        // unix_socket auth for root: only the local OS root may administer; the app user gets a password.
        const grants = ['localhost', '127.0.0.1']
          .map(
            (host) =>
              `CREATE USER IF NOT EXISTS '${localDb.user}'@'${host}' IDENTIFIED BY '${localDb.password}'; GRANT ALL PRIVILEGES ON *.* TO '${localDb.user}'@'${host}';`,
          )
          .join(' ')
        await rootQuery(`${grants} FLUSH PRIVILEGES;`)
      }
      return { started: true, pid: readPid(pidFile) ?? child.pid ?? 0 }
    },
    async stop() {
      const pid = readPid(pidFile)
      if (!pid) return false
      // SIGTERM is a clean InnoDB shutdown; a large buffer pool may take a few seconds.
      await stopPid(pid, 60_000)
      return true
    },
  }
}

/** The project-local server every command shares (port 3307 unless LOCAL_DB_PORT). */
const localServer = mariaDbServer({ dir: join(localDir, 'mariadb'), port: localDb.port })

export const startLocalDb = (): Promise<LocalDbStatus> => localServer.start()
export const stopLocalDb = (): Promise<boolean> => localServer.stop()
export const localDbPid = (): number | undefined => localServer.pid()
