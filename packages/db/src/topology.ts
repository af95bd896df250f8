import type { Pool, RowDataPacket } from 'mysql2/promise'

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
      /** This node's client address (wsrep_node_incoming_address). */
      address: string
    }

/**
 * Reads the topology over `pool` with statements a node outside the Primary component still
 * answers (SHOW and a system variable), so a replica can tell why it must not serve.
 */
export async function databaseTopology(pool: Pool): Promise<DatabaseTopology> {
  const [[settings]] = (await pool.query<RowDataPacket[]>(
    'SELECT @@wsrep_on AS wsrepOn, @@wsrep_node_name AS node, @@wsrep_node_incoming_address AS address',
  )) as [RowDataPacket[], unknown]
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
    address: String(settings?.address ?? ''),
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
