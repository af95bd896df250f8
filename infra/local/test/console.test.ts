import t, { type Test } from 'tap'
import { existsSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { createPool, type RowDataPacket } from '@commerce/db'
import { createTestDatabase } from '@commerce/db/testing'
import { signToken } from '@commerce/kit'
import { localAuthSecret } from '../src/secret.ts'
import { seedData } from '../src/seed-data.ts'
import { startStack, type Stack } from '../src/stack.ts'

// The operations console in Debian's chromium (driven by playwright-core) against a real stack:
// nginx, two batch-worker daemons, the APIs, MariaDB. One screenshot per test under reports/console/.
const chromiumPath = '/usr/bin/chromium'
const screenshots = fileURLToPath(new URL('../../../reports/console/', import.meta.url))
const period = '2026-10'
// A 1-s heartbeat: a killed worker is dead after 4 s and its row pruned after 10 s, so the page has 6 s to show it dead.
const heartbeatMs = 1_000

const adminToken = signToken(localAuthSecret(), { userId: 1, role: 'admin' })
const userToken = signToken(localAuthSecret(), { userId: 2, role: 'user' })

async function consoleStack(t: Test): Promise<{ stack: Stack; databaseUrl: string }> {
  const databaseUrl = await createTestDatabase(t)
  await seedData({ url: databaseUrl, users: 2_000, orders: 40_000, period, seed: 16, reset: true })
  const stack = await startStack({
    databaseUrl,
    dir: t.testdir(),
    portBase: 21_000,
    httpPort: 18_180,
    replicas: 1,
    batchWorkers: 2,
    heartbeatMs,
    env: { LOG_LEVEL: 'warn' },
    serviceEnv: {
      'batch-worker': {
        BATCH_SCHEDULE_ENABLED: 'false',
        EVENT_SCHEDULE_ENABLED: 'false',
        BATCH_DAEMON_POLL_MS: '100',
        BATCH_CHUNK_SIZE: '50',
        CONSOLE_REFRESH_MS: '250',
      },
    },
  })
  t.teardown(() => stack.stop())
  return { stack, databaseUrl }
}

/** A fresh page on the console, and the script errors and refused resources it reports (a test ends by requiring none). */
async function openConsole(t: Test, browser: Browser, stack: Stack): Promise<{ page: Page; failures: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } })
  t.teardown(() => context.close())
  const page = await context.newPage()
  const failures: string[] = []
  page.on('pageerror', (error) => failures.push(error.message))
  // Chromium logs every 4xx answer as an error; the refusals are the tests' own, so only 5xx count.
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) failures.push(message.text())
  })
  page.on('response', (response) => {
    if (response.status() >= 500 || response.status() === 404) failures.push(`${response.status()} ${response.url()}`)
  })
  page.on('requestfailed', (request) => {
    if (!request.url().endsWith('/console/api/stream')) failures.push(`failed: ${request.url()}`)
  })
  await page.goto(`${stack.url}/console/`)
  return { page, failures }
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.fill('#token', token)
  await page.click('#login-form button[type=submit]')
}

const shoot = (page: Page, name: string) => page.screenshot({ path: `${screenshots}${name}.png`, fullPage: true })

t.test('the console in a real browser, through nginx, against a real stack', { timeout: 600_000 }, async (t) => {
  // Not a skip: the repo's bootstrap installs chromium for `npm test`, so its absence is a broken machine.
  t.ok(existsSync(chromiumPath), `${chromiumPath} is installed (infra/local/bootstrap.sh installs Debian's chromium)`)
  mkdirSync(screenshots, { recursive: true })
  const { stack, databaseUrl } = await consoleStack(t)
  const pool = createPool({ url: databaseUrl, role: 'api' })
  t.teardown(() => pool.end())
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] })
  t.teardown(() => browser.close())

  await t.test('a token without the admin role is refused, and so is a bad one', async (t) => {
    const { page, failures } = await openConsole(t, browser, stack)
    await signIn(page, userToken)
    await page.waitForSelector('#login-error:has-text("admin")')
    t.ok(await page.isHidden('#dashboard'), 'nothing is shown to a user token')
    await signIn(page, 'not-a-token')
    await page.waitForSelector('#login-error:has-text("invalid")')
    await shoot(page, 'refused')
    t.same(failures, [], 'no script error or refused resource in the page')
  })

  await t.test('log in, preview a dry run, start the run and watch it complete', async (t) => {
    const { page, failures } = await openConsole(t, browser, stack)
    await signIn(page, adminToken)
    await page.waitForSelector('#live[data-state="live"]')
    const workers = stack.replicas.filter((replica) => replica.service === 'batch-worker')
    for (const worker of workers) await page.waitForSelector(`#members tr.alive[data-member="${worker.instanceId}"]`)
    t.pass('both batch-worker daemons are listed alive')

    await page.fill('#period', '2026-13')
    await page.click('#run-form button[type=submit]')
    await page.waitForSelector('#run-message[data-kind="error"]:has-text("VALIDATION")')
    t.pass('a typo in the period is refused with its code')

    await page.fill('#period', period)
    await page.click('#run-form button[type=submit]')
    await page.waitForSelector('#preview-figures')
    const previewText = await page.textContent('#preview-figures')
    t.match(previewText, /targets\s*[1-9]/, 'the dry run shows its targets')
    const [[before]] = (await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM batch_runs')) as [RowDataPacket[], unknown]
    t.equal(Number(before?.n), 0, 'the dry run wrote nothing')
    await shoot(page, 'dry-run')

    await page.click('#start-run')
    await page.waitForSelector('#confirm[open]')
    await page.click('#confirm-ok')
    await page.waitForSelector('#run-message:has-text("Run ")')
    await page.waitForSelector('#focus-status .badge[data-state="COMPLETED"]', { timeout: 60_000 })
    const [[run]] = (await pool.query<RowDataPacket[]>('SELECT id, chunk_count FROM batch_runs')) as [RowDataPacket[], unknown]
    await page.waitForSelector(`#focus-chunks:has-text("${run?.chunk_count} / ${run?.chunk_count} chunks done")`)
    t.pass(`the page shows run ${run?.id} COMPLETED with all ${run?.chunk_count} chunks done`)
    await page.waitForSelector('#timeline svg rect.chunk-DONE')
    const bars = await page.locator('#timeline svg rect.chunk-DONE').count()
    t.equal(bars, Number(run?.chunk_count), 'the timeline draws one bar per chunk')
    t.match(await page.textContent('#timeline .legend'), /[12] workers/, 'and the workers that did them')
    await shoot(page, 'run-completed')
    t.same(failures, [], 'no script error or refused resource in the page')
  })

  await t.test('a killed worker is marked dead', async (t) => {
    const { page, failures } = await openConsole(t, browser, stack)
    await signIn(page, adminToken)
    const victim = stack.replicas.find((replica) => replica.service === 'batch-worker' && replica.index === 1)
    await page.waitForSelector(`#members tr.alive[data-member="${victim?.instanceId}"]`)
    await stack.killReplica('batch-worker', 1)
    await page.waitForSelector(`#members tr.dead[data-member="${victim?.instanceId}"]`, { timeout: 60_000 })
    t.pass('dead after four missed heartbeats, on the database clock')
    await shoot(page, 'worker-dead')
    t.same(failures, [], 'no script error or refused resource in the page')
  })
})
