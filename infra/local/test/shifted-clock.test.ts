import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { shiftedClockArgs } from '../src/shifted-clock.ts'

const localPackageDir = fileURLToPath(new URL('..', import.meta.url))
const at = '2027-03-01T00:05:00+09:00'

t.test('--at takes an ISO instant with its offset, and nothing else', async (t) => {
  const { args, env, offsetSeconds } = shiftedClockArgs(at, Date.parse('2026-12-01T00:00:00Z'))
  t.equal(offsetSeconds, (Date.parse('2027-02-28T15:05:00Z') - Date.parse('2026-12-01T00:00:00Z')) / 1000)
  t.same(args.slice(1), ['-f', `+${offsetSeconds}s`])
  t.same(env, { FAKETIME_DONT_RESET: '1' })
  t.throws(() => shiftedClockArgs('2027-03-01T00:05:00'), /with its offset/)
  t.throws(() => shiftedClockArgs('next month'), /with its offset/)
})

// A child on the shifted clock starts nginx through the local stack's startNginx and reads the
// Date header of nginx's own 404 (a worker's clock) until libfaketime has re-read its settings
// at least twice (FAKETIME_CACHE_DURATION=1 s here; 10 s by default).
const probe = `
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { startNginx, stopNginx } from './src/nginx.ts'
const nginx = await startNginx({ prefix: process.argv[1], port: 18_097, upstreams: { 'user-api': [], 'coupon-api': [], 'event-apply': [], 'batch-worker': [] } })
const skews = []
try {
  const until = performance.now() + 2_500
  while (performance.now() < until) {
    const response = await request(nginx.url + '/nowhere', { reset: true })
    await response.body.dump()
    skews.push(Math.abs(Date.parse(String(response.headers.date)) - Date.now()) / 1000)
    await sleep(250)
  }
} finally {
  await stopNginx(nginx)
}
console.log(JSON.stringify(skews))
`

t.test("nginx's workers stay on the shifted clock, though nginx clears their environment", async (t) => {
  const { args, env } = shiftedClockArgs(at)
  const child = spawn(args[0]!, [...args.slice(1), process.execPath, '--import', 'tsx', '--input-type=module', '-e', probe, t.testdir()], {
    cwd: localPackageDir,
    env: { ...process.env, ...env, FAKETIME_CACHE_DURATION: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk))
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  t.equal(code, 0, 'the probe ran')
  const skews = JSON.parse(output.trim().split('\n').at(-1) ?? '[]') as number[]
  t.ok(skews.length >= 5, `${skews.length} readings over 2.5 s`)
  // Date has whole seconds; the real clock is ~3 months away.
  t.ok(
    skews.every((skew) => skew <= 2),
    `every Date header within 2 s of the shifted clock (skews ${skews.join(', ')} s)`,
  )
})
