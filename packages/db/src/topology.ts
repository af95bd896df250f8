import type { Pool, RowDataPacket } from 'mysql2/promise'
import { sqlErrorCode } from './errors.ts'

/** A server built without Galera support has no wsrep variables at all: it is one server. */
const noWsrep = (error: unknown) => sqlErrorCode(error) === 'ER_UNKNOWN_SYSTEM_VARIABLE'

/** What a connection's server is: one MariaDB, or one node of a Galera cluster and its state there. */
export type DatabaseTopology =
  | { kind: 'single' }
  | {
      kind: 'galera'
      node: string
      /** wsrep_ready: the node accepts queries. */
      ready: boolean
      /** wsrep_cluster_status: Primary, or non-Primary (a minority cut off from the rest). */
      clusterStatus: string
      /** wsrep_local_state_comment: Synced, Joining, Donor/Desynced… */
      state: string
      clusterSize: number
      /** Every member's client address (wsrep_incoming_addresses: host:port), this node's among them. */
      addresses: string[]
    }

/**
 * Reads the topology over `pool` with statements a node outside the Primary component still
 * answers (SHOW and a system variable), so a replica can tell why it must not serve.
 */
export async function databaseTopology(pool: Pool): Promise<DatabaseTopology> {
  let settings: RowDataPacket | undefined
  try {
    ;[[settings]] = (await pool.query<RowDataPacket[]>('SELECT @@wsrep_on AS wsrepOn, @@wsrep_node_name AS node')) as [RowDataPacket[], unknown]
  } catch (error) {
    if (noWsrep(error)) return { kind: 'single' }
    throw error
  }
  if (!Number(settings?.wsrepOn)) return { kind: 'single' }
  const [rows] = await pool.query<RowDataPacket[]>(
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_cluster_status', 'wsrep_local_state_comment', 'wsrep_cluster_size', 'wsrep_incoming_addresses')",
  )
  const status = new Map(rows.map((row) => [String(row.Variable_name).toLowerCase(), String(row.Value)]))
  return {
    kind: 'galera',
    node: String(settings?.node ?? ''),
    ready: status.get('wsrep_ready') === 'ON',
    clusterStatus: status.get('wsrep_cluster_status') ?? '',
    state: status.get('wsrep_local_state_comment') ?? '',
    clusterSize: Number(status.get('wsrep_cluster_size') ?? 0),
    addresses: (status.get('wsrep_incoming_addresses') ?? '').split(',').filter(Boolean),
  }
}

/**
 * Why this topology must not take traffic, or undefined. A Galera node serves only when ready,
 * Synced and in the Primary component: elsewhere it refuses queries or reads a stale copy.
 */
export function topologyProblem(topology: DatabaseTopology): string | undefined {
  if (topology.kind === 'single') return undefined
  if (!topology.ready || topology.clusterStatus !== 'Primary' || topology.state !== 'Synced') {
    return `Galera node ${topology.node} is ${topology.state || 'in an unknown state'} in a ${topology.clusterStatus || 'unknown'} component (wsrep_ready ${topology.ready ? 'ON' : 'OFF'})`
  }
  return undefined
}

/** One line for the boot log. */
export const describeTopology = (topology: DatabaseTopology): string =>
  topology.kind === 'single'
    ? 'database: one MariaDB server'
    : `database: Galera node ${topology.node}, ${topology.state}, ${topology.clusterStatus} component of ${topology.clusterSize} nodes`

/**
 * Returns once the pool's node has applied every write the cluster committed before this call (a
 * causal read on `table`): a transaction refused by certification runs again only then, so it
 * reads what beat it instead of being refused again. At once on one server.
 */
export async function catchUp(pool: Pick<Pool, 'query'>, table: string): Promise<void> {
  try {
    await pool.query(`SET STATEMENT wsrep_sync_wait = 1 FOR SELECT 1 FROM ${table} LIMIT 1`)
  } catch (error) {
    if (!noWsrep(error)) throw error
  }
}
