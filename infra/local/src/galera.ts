import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { mariaDbServer, type MariaDbServer } from './mariadb.ts'
import { requireCommand, run, waitFor } from './process.ts'

/** Where Debian's galera-4 puts the provider. */
const provider = '/usr/lib/galera/libgalera_smm.so'
export const galeraNodeCount = 3

export interface GaleraClusterOptions {
  /** Holds one folder per node (node1, node2, node3). */
  dir: string
  /**
   * Node i (1-based) takes client port base + i, group communication base + 10 + i, IST
   * base + 20 + i and SST base + 30 + i: one block of 40 ports a cluster.
   */
  portBase: number
  bufferPoolSize?: string
  logFileSize?: string
  /** Prefix for one node's server command (e.g. libfaketime's environment): node index → argv prefix. */
  launchers?: Partial<Record<number, readonly string[]>>
}

export interface GaleraNode {
  /** 1-based */
  index: number
  name: string
  server: MariaDbServer
}

export interface GaleraCluster {
  readonly nodes: readonly GaleraNode[]
  /** `mysql://app:app@127.0.0.1:<node port>/<database>` for every node, in order. */
  urls(database: string): string[]
  /** Starts every node not running yet (bootstrapping from the safe node when none is), then waits until all are Synced. */
  start(): Promise<{ started: number; bootstrapped?: string }>
  /** Stops the nodes one by one, the last stopped being the one a later start bootstraps from. */
  stop(): Promise<number>
}

/** The `wsrep` settings of one loopback node; the rest of the server's settings are mariaDbServer's. */
function nodeArgs(index: number, portBase: number): string[] {
  const peers = Array.from({ length: galeraNodeCount }, (_, i) => `127.0.0.1:${portBase + 11 + i}`).join(',')
  return [
    '--wsrep-on=ON',
    `--wsrep-provider=${provider}`,
    '--wsrep-cluster-name=commerce',
    `--wsrep-cluster-address=gcomm://${peers}`,
    `--wsrep-node-name=node${index}`,
    `--wsrep-node-address=127.0.0.1:${portBase + 10 + index}`,
    `--wsrep-node-incoming-address=127.0.0.1:${portBase + index}`,
    `--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:${portBase + 10 + index};ist.recv_addr=127.0.0.1:${portBase + 20 + index};gcache.size=256M`,
    '--wsrep-sst-method=rsync',
    `--wsrep-sst-receive-address=127.0.0.1:${portBase + 30 + index}`,
    // Galera's requirements: row events, and interleaved auto-increment locks (no table lock per insert).
    '--binlog-format=ROW',
    '--innodb-autoinc-lock-mode=2',
    '--default-storage-engine=InnoDB',
    // A table without a primary key cannot be certified row by row: refuse it rather than replicate it badly.
    '--innodb-force-primary-key=ON',
  ]
}

/** What grastate.dat says of a stopped node: its last committed seqno and whether it may bootstrap. */
function grastate(dataDir: string): { seqno: number; safeToBootstrap: boolean } | undefined {
  const file = join(dataDir, 'grastate.dat')
  if (!existsSync(file)) return undefined
  const text = readFileSync(file, 'utf8')
  return { seqno: Number(/^seqno:\s*(-?\d+)/m.exec(text)?.[1] ?? -1), safeToBootstrap: /^safe_to_bootstrap:\s*1/m.test(text) }
}

/**
 * A 3-node MariaDB Galera cluster on loopback, from Debian's packages: each node its own datadir,
 * ports and logs; state transfer by rsync. Nodes joining a running cluster receive its data, so only
 * the first node of a fresh cluster creates the app user.
 */
export function galeraCluster({ dir, portBase, bufferPoolSize = '512M', logFileSize = '128M', launchers = {} }: GaleraClusterOptions): GaleraCluster {
  const nodes: GaleraNode[] = Array.from({ length: galeraNodeCount }, (_, i) => {
    const index = i + 1
    return {
      index,
      name: `node${index}`,
      server: mariaDbServer({
        dir: join(dir, `node${index}`),
        port: portBase + index,
        bufferPoolSize,
        logFileSize,
        extraArgs: nodeArgs(index, portBase),
        createUser: index === 1,
        // A joiner opens its port once the donor's datadir has reached it.
        startTimeoutMs: 600_000,
        launcher: launchers[index],
        runAs: 'mysql',
      }),
    }
  })

  const synced = async (node: GaleraNode) => {
    const out = await node.server.rootQuery("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment', 'wsrep_cluster_size')").catch(() => '')
    return /wsrep_local_state_comment\tSynced/.test(out) && new RegExp(`wsrep_cluster_size\\t${galeraNodeCount}\\b`).test(out)
  }

  /**
   * The node a cluster with no running node starts from: the one grastate.dat marks safe (the last
   * to stop cleanly); after a crash of all of them, the one with the highest recovered seqno, which
   * is then marked safe. A fresh cluster starts from node 1.
   */
  async function bootstrapNode(): Promise<GaleraNode> {
    const states = nodes.map((node) => ({ node, state: grastate(node.server.dataDir) }))
    if (states.every(({ state }) => state === undefined)) return nodes[0]!
    const safe = states.find(({ state }) => state?.safeToBootstrap)
    if (safe) return safe.node
    const server = requireCommand('mariadbd', 'mariadb-server')
    let best: { node: GaleraNode; seqno: number } | undefined
    for (const { node } of states) {
      if (!existsSync(node.server.dataDir)) continue
      // --wsrep-recover reads InnoDB's last committed position, prints it and exits.
      const log = join(node.server.dataDir, '..', 'recover.log')
      await run(server, [...node.server.serverArgs.filter((arg) => !arg.startsWith('--log-error')), `--log-error=${log}`, '--wsrep-recover'])
      await run('chown', ['-R', 'mysql:', node.server.dataDir])
      const seqno = Number(/Recovered position: [0-9a-f-]+:(-?\d+)/.exec(readFileSync(log, 'utf8'))?.[1] ?? -1)
      if (!best || seqno > best.seqno) best = { node, seqno }
    }
    if (!best) return nodes[0]!
    const file = join(best.node.server.dataDir, 'grastate.dat')
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^safe_to_bootstrap:\s*0/m, 'safe_to_bootstrap: 1'))
    return best.node
  }

  return {
    nodes,
    urls: (database) => nodes.map((node) => node.server.url(database)),
    async start() {
      let started = 0
      let bootstrapped: string | undefined
      if (!nodes.some((node) => node.server.pid())) {
        const first = await bootstrapNode()
        await first.server.start(['--wsrep-new-cluster'])
        bootstrapped = first.name
        started += 1
      }
      // One joiner at a time: each takes its state from a node already synced.
      for (const node of nodes) {
        if ((await node.server.start()).started) started += 1
      }
      await waitFor('the Galera cluster (3 nodes Synced)', async () => (await Promise.all(nodes.map(synced))).every(Boolean), 120_000, 200)
      return { started, bootstrapped }
    },
    async stop() {
      let stopped = 0
      for (const node of [...nodes].reverse()) if (await node.server.stop()) stopped += 1
      return stopped
    },
  }
}
