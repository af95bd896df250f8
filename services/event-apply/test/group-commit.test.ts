import t from 'tap'
import type { Application, EventRepository } from '../src/event-repository.ts'
import { createGroupCommit } from '../src/group-commit.ts'

/** A repository that records each statement's rows and writes nothing. */
function recordingRepo() {
  const statements: { kind: 'insert' | 'lookup'; rows: number }[] = []
  const repo = {
    async insertApplications(rows: Application[]) {
      statements.push({ kind: 'insert', rows: rows.length })
      return rows.map(() => ({ kind: 'inserted' as const }))
    },
    async storedApplications(rows: Application[]) {
      statements.push({ kind: 'lookup', rows: rows.length })
      return { of: () => undefined }
    },
  } as unknown as EventRepository
  return { repo, statements }
}

let seq = 0
const application = (phone: string): Application => ({
  id: `00000000-0000-7000-8000-${String(++seq).padStart(12, '0')}`,
  eventId: 1,
  name: 'n',
  phone,
  userId: null,
  receivedAtMicros: 0,
  replicaId: '00000000-0000-7000-8000-000000000000',
  replicaSeq: seq,
})
const observer = { onFlush: () => {}, onBacklog: () => {} }
/** A bound that catches a hang, never a speed: minutes. */
const hang = <T>(promise: Promise<T>) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('hung')), 120_000).unref())])

t.test('lookups arriving together share one statement', async (t) => {
  const { repo, statements } = recordingRepo()
  const commit = createGroupCommit(repo, { flushMs: 0, lookupMs: 20, maxRows: 500, concurrency: 4, limit: 100 }, observer)
  const outcomes = await hang(Promise.all(['01011110001', '01011110002', '01011110003'].map((phone) => commit.lookup(application(phone)))))
  t.same(
    outcomes.map((o) => o.kind),
    ['absent', 'absent', 'absent'],
  )
  t.same(statements, [{ kind: 'lookup', rows: 3 }])
})

t.test('a write joining a buffer of lookups is not held for the lookups’ wait: it flushes after flushMs, lookups with it', async (t) => {
  const { repo, statements } = recordingRepo()
  // The lookups alone would wait ten minutes; the write must not.
  const commit = createGroupCommit(repo, { flushMs: 0, lookupMs: 600_000, maxRows: 500, concurrency: 4, limit: 100 }, observer)
  const looked = commit.lookup(application('01022220001'))
  const written = await hang(commit.submit(application('01022220002')))
  t.same(written, { kind: 'inserted' })
  t.same(await hang(looked), { kind: 'absent' }, 'the lookup rode the same flush')
  t.same(statements, [
    { kind: 'insert', rows: 1 },
    { kind: 'lookup', rows: 1 },
  ])
})
