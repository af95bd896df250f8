import t from 'tap'
import { join } from 'node:path'
import { rmSync } from 'node:fs'
import { migrateDatabase, withDatabase } from '@commerce/db'
import { createServiceApp } from '@commerce/kit'
import { testConfig } from '@commerce/kit/testing'
import { galeraCluster } from '../src/galera.ts'
import { localDir } from '../src/paths.ts'

// A cluster of its own whose node 3 runs 5 s ahead (libfaketime on that node alone): its NOW(6)
// stamps leases and heartbeats that the other nodes judge on theirs. Replicas measure every node's
// clock; one on the shifted node is not ready, ones on the others are.

t.test('a replica whose Galera node runs 5 s ahead of the others is not ready; replicas on the other nodes are', { timeout: 300_000 }, async (t) => {
  const dir = join(localDir, 'galera-clock-test')
  rmSync(dir, { recursive: true, force: true })
  const cluster = galeraCluster({
    dir,
    portBase: 3450,
    bufferPoolSize: '128M',
    logFileSize: '48M',
    launchers: { 3: ['env', 'LD_PRELOAD=/usr/$LIB/faketime/libfaketime.so.1', 'FAKETIME=+5s', 'FAKETIME_DONT_RESET=1'] },
  })
  t.teardown(async () => {
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  await cluster.start()
  const urls = cluster.urls('clock_test')
  await migrateDatabase(urls[0]!)

  const ready = async (url: string) => {
    const app = await createServiceApp({ service: 'user-api', config: testConfig(url), logger: false })
    t.teardown(() => app.close())
    await app.ready()
    const answer = await app.inject('/ready')
    const metrics = (await app.inject('/metrics')).body
    return { status: answer.statusCode, body: answer.json(), metrics }
  }
  // Node 1 must have applied the schema before a replica registers through it (it was migrated there).
  const onNode1 = await ready(urls[0]!)
  t.equal(onNode1.status, 200, 'node 1 is near the median of the three clocks')
  const node3 = cluster.nodes[2]!.name
  const shifted = /db_node_clock_offset_seconds\{node="([^"]+)"[^}]*\} ([-\d.e]+)/g
  const offsets = new Map([...onNode1.metrics.matchAll(shifted)].map(([, node, seconds]) => [node, Number(seconds)]))
  t.equal(offsets.size, 3, 'every node measured')
  t.ok((offsets.get(node3) ?? 0) > 4, `node 3 measured about 5 s ahead (${offsets.get(node3)} s)`)

  const onNode3 = await ready(withDatabase(urls[2]!, 'clock_test'))
  t.equal(onNode3.status, 503)
  t.match(onNode3.body, { code: 'NOT_READY', message: /database node node3's clock is \d+ ms off the cluster's median/ })
})
