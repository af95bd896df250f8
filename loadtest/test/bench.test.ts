import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const cwd = fileURLToPath(new URL('..', import.meta.url))

/** Runs a command of this workspace with a database that does not exist: only argument handling can succeed. */
function run(script: string, args: string[]) {
  const result = spawnSync('node', ['--import', 'tsx', `src/${script}.ts`, ...args], {
    cwd,
    env: { ...process.env, DATABASE_URL: 'mysql://nobody:x@127.0.0.1:1/none' },
    encoding: 'utf8',
  })
  return { code: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() }
}

t.test('bench and demo answer --help with their usage', async (t) => {
  for (const script of ['bench', 'demo']) {
    const { code, stdout } = run(script, ['--help'])
    t.equal(code, 0, script)
    t.match(stdout, new RegExp(`^usage: npm run ${script}`), script)
  }
  const usage = run('bench', ['--help']).stdout
  for (const scenario of ['request-cost', 'guard-load', 'members', 'scale']) t.match(usage, new RegExp(`\\n  ${scenario} `), `${scenario} is listed`)
})

t.test('bench refuses a flag its scenario does not read, in one line, before starting anything', async (t) => {
  for (const [args, message] of [
    [['event', '--users', '5'], /^error: --users does not apply to event \(it takes --rate, /],
    [['faults', '--against', 'HEAD', '--duration', '5'], /^error: --against, --duration do not apply to faults/],
    [['restart', '--rate', '1,2'], /^error: --rate takes one value/],
    [['scale', '--users', '5'], /^error: --users does not apply to scale \(it takes --factors, --rate\)/],
    [['scale', '--factors', '1,0'], /^error: --factors must be a list of numbers above 0/],
    [['scale', '--factors', '1,ten'], /^error: --factors must be a list of numbers above 0/],
    [['members', '--members', '100,-1'], /^error: --members must be an integer ≥ 1/],
    [
      ['request-cost', '--routes', 'profile,nope'],
      /^error: --routes must be a list of profile, coupon-list, redeem, place-order, event-write, event-closed, live-mix/,
    ],
    [['guard-load', '--saturate'], /^error: --saturate does not apply to guard-load/],
    [['sideways'], /^error: name a scenario/],
  ] as const) {
    const { code, stderr } = run('bench', [...args])
    t.equal(code, 1, args.join(' '))
    t.match(stderr, message, args.join(' '))
  }
})
