import t from 'tap'
import { runWorker } from '@commerce/batch-worker/worker'
import { member, period, settings, testDatabase } from '@commerce/batch-worker/testing'
import { batchGantt, readBatchTimeline } from '../src/batch-timeline.ts'

t.test('the gantt chart of a run: one bar per chunk on the lanes of the workers that did them, planning and publish marked', async (t) => {
  const { url, pool } = await testDatabase(t, 60)
  const workers = await Promise.all([member(t, url), member(t, url)])
  const reports = await Promise.all(workers.map(({ pool, membership }) => runWorker({ pool, membership, period, strategy: 'bulk', settings })))
  const timeline = await readBatchTimeline(pool, reports[0]!.runId)
  const chunks = reports.reduce((sum, report) => sum + report.chunksDone, 0)
  t.equal(timeline.strategy, 'bulk')
  t.equal(
    timeline.lanes.reduce((sum, lane) => sum + lane.bars.length, 0),
    chunks,
    'one bar per chunk',
  )
  t.equal(timeline.lanes.length, reports.filter((report) => report.chunksDone > 0).length, 'one lane per worker that committed a chunk')
  t.ok(
    timeline.lanes.every((lane) => lane.bars.every((bar) => bar.to >= bar.from && !bar.emphasis)),
    'every bar from claim to commit, none re-claimed or unfinished',
  )
  t.ok(timeline.planning && timeline.planning.to >= timeline.planning.from, 'the planning band')
  t.ok(timeline.published && timeline.planning && timeline.published.at >= timeline.planning.to, 'published after planning')
  t.match(batchGantt(timeline, 'run').markers, [{ label: 'published' }])
})
