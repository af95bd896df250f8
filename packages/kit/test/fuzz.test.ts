import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Type } from 'typebox'
import { createTestDatabase } from '@commerce/db/testing'
import { createServiceApp } from '../src/app.ts'
import { kitErrors } from '../src/errors.ts'
import { checkAnswer, formatFuzzReport, fuzzRoutes, fuzzSettings, operatorRoutes, type FuzzRoute } from '../src/fuzz.ts'
import { attackTokens, bearer, testConfig } from '../src/testing.ts'

const codes = new Set(Object.keys(kitErrors))

t.test('checkAnswer: 5xx, unknown codes, extra fields, stacks, paths, database errors and SQL are caught', async (t) => {
  t.equal(checkAnswer(200, 'anything', codes), undefined)
  t.equal(checkAnswer(404, '{"code":"NOT_FOUND","message":"no such thing"}', codes), undefined)
  t.equal(checkAnswer(500, '{"code":"INTERNAL","message":"internal error"}', codes), 'status 500')
  t.equal(checkAnswer(400, '<html>', codes), 'error body is not JSON')
  t.equal(checkAnswer(400, '{"code":"FST_ERR_BAD_URL","message":"x"}', codes), 'unknown code "FST_ERR_BAD_URL"')
  t.equal(checkAnswer(400, '{"code":"VALIDATION","message":"x","statusCode":400}', codes), 'error body has more than code, message and its declared fields')
  const fields = { NOT_FOUND: ['id'] }
  t.equal(checkAnswer(404, '{"code":"NOT_FOUND","message":"x","id":"7"}', codes, fields), undefined, 'a declared field of its code')
  t.equal(
    checkAnswer(400, '{"code":"VALIDATION","message":"x","id":"7"}', codes, fields),
    'error body has more than code, message and its declared fields',
    'declared for another code',
  )
  t.equal(checkAnswer(400, '{"code":"VALIDATION","message":"Error: x\\n    at foo (/app/src/x.ts:1:2)"}', codes), 'stack trace in the error body')
  t.equal(checkAnswer(400, '{"code":"VALIDATION","message":"in /app/node_modules/x"}', codes), 'source path in the error body')
  t.equal(checkAnswer(409, '{"code":"VALIDATION","message":"ER_DUP_ENTRY: Duplicate entry \'1\' for key"}', codes), 'database error in the error body')
  t.equal(checkAnswer(400, '{"code":"VALIDATION","message":"near SELECT id FROM users"}', codes), 'SQL text in the error body')
  t.equal(checkAnswer(404, '{"code":"NOT_FOUND","message":"no route for DELETE on this path"}', codes), undefined, 'a method name is not SQL')
})

t.test("fuzz: the kit's own routes and a probe answer every malformed request with a 4xx and a code", async (t) => {
  const app = await createServiceApp({ service: 'user-api', config: testConfig(await createTestDatabase(t)), logger: false })
  t.teardown(() => app.close())
  app.post(
    '/probe/:id',
    {
      schema: {
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        body: Type.Object({ n: Type.Integer({ maximum: 10 }), s: Type.String({ maxLength: 10 }) }),
      },
    },
    async (request) => {
      app.auth.requireSelfOrAdmin(request, request.params.id)
      return request.body
    },
  )
  await app.ready()
  const routes: FuzzRoute[] = [{ method: 'POST', path: '/probe/:id', params: { id: ['7'] }, body: { n: 1, s: 'x' } }, ...operatorRoutes]
  const { seed, runs } = fuzzSettings({ seed: 7, runs: 1500 })
  const report = await fuzzRoutes(app, routes, {
    seed,
    runs,
    authorizations: [bearer(7).authorization, bearer(1, 'admin').authorization],
    attacks: Object.values(attackTokens(7)),
    codes,
  })
  t.comment(formatFuzzReport('kit', report))
  t.equal(report.cases, runs)
  t.same(report.failures, [])
  t.ok(report.statuses['200'] && report.statuses['400'] && report.statuses['401'], 'successes and refusals both')
})

t.test('over HTTP: the cases go through a socket, an answer header that grows with the request is caught, unsendable cases are counted', async (t) => {
  // A server that echoes X-Request-Id unbounded, as the replicas once did.
  const seen: string[] = []
  const server = createServer((request, response) => {
    seen.push(String(request.headers['x-request-id']))
    response.setHeader('x-request-id', request.headers['x-request-id'] ?? 'none')
    response.setHeader('content-type', 'application/json')
    response.end('{}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const options = { seed: 3, runs: 600, authorizations: ['Bearer x'], attacks: ['Bearer y'], codes }
  const report = await fuzzRoutes({ baseUrl }, [{ method: 'GET', path: '/x/:id', params: { id: ['1'] } }], options)
  t.equal(report.cases, 600, 'every case went over the wire')
  t.equal(seen.length, 600, 'and reached the server')
  t.ok(
    seen.some((id) => /[\u0080-\u00ff]/.test(id)),
    'Latin-1 header bytes arrive as sent',
  )
  t.ok(
    report.failures.length > 0 && report.failures.every((failure) => /^answer header x-request-id is \d+ bytes$/.test(failure.why)),
    'the echoed long id is caught',
  )
  const unsendable = await fuzzRoutes({ baseUrl }, [{ method: 'GET', path: '/a b' }], { ...options, runs: 20 })
  t.same([unsendable.cases, unsendable.unsendable], [0, 20], 'a path with a space cannot be put on the wire: counted, not sent')
})

t.test('the same seed generates the same requests', async (t) => {
  const seen: string[][] = []
  for (let i = 0; i < 2; i += 1) {
    const urls: string[] = []
    await fuzzRoutes(
      {
        inject: (async (options: { url: string }) => {
          urls.push(options.url)
          return { statusCode: 200, headers: {}, body: '' }
        }) as never,
      },
      [{ method: 'GET', path: '/x/:id', params: { id: ['1'] }, query: { a: 'b' } }],
      { seed: 42, runs: 50, authorizations: ['Bearer x'], attacks: ['Bearer y'], codes },
    )
    seen.push(urls)
  }
  t.same(seen[0], seen[1])
  t.equal(new Set(seen[0]).size > 10, true, 'and they vary')
})

t.test('the generators put date-time edges and boundary numbers in every field: body strings and numbers, queries, path segments', async (t) => {
  const sent: { url: string; payload?: unknown }[] = []
  const inject = (async (options: { url: string; payload?: unknown }) => {
    sent.push(options)
    return { statusCode: 200, headers: {}, body: '' }
  }) as never
  await fuzzRoutes(
    { inject },
    [{ method: 'POST', path: '/x/:id', params: { id: ['1'] }, query: { period: '2026-10' }, body: { at: '2030-01-01T04:00:00Z', n: 1 } }],
    { seed: 42, runs: 3000, authorizations: ['Bearer x'], attacks: ['Bearer y'], codes },
  )
  const bodies = sent.flatMap(({ payload }) => {
    try {
      const body = JSON.parse(String(payload)) as { at?: unknown; n?: unknown } | null
      return body && typeof body === 'object' ? [body] : []
    } catch {
      return []
    }
  })
  const ats = new Set(bodies.map((body) => body.at))
  const ns = new Set(bodies.map((body) => body.n))
  const decoded = (text: string) => {
    try {
      return decodeURIComponent(text)
    } catch {
      return text
    }
  }
  const queries = sent.map(({ url }) => decoded(url.split('?')[1] ?? ''))
  const paths = new Set(sent.map(({ url }) => url.split('?')[0]))
  const someAt = (pattern: RegExp) => [...ats].some((at) => typeof at === 'string' && pattern.test(at))
  const edges: [RegExp, string][] = [
    [/^0000-/, 'year 0'],
    [/^0999-/, 'year 999'],
    [/^1969-/, 'year 1969'],
    [/^9999-12-31T23:59:59/, 'the last second of 9999'],
    [/^[+-]\d{6}-/, 'an expanded year'],
    [/\+14:00$/, 'offset +14:00'],
    [/-12:00$/, 'offset -12:00'],
    [/Z$/, 'Z'],
    [/T\d\d:\d\d:\d\d(\.\d+)?$/, 'no offset'],
    [/T23:59:60/, 'a leap second'],
    [/^(2023|2031)-02-29T/, 'Feb 29 of a common year'],
    [/:\d\dZ$|:\d\d[+-]/, 'no fraction'],
    [/\.\d{9,}/, '9+ fraction digits'],
    [/^$/, 'empty'],
    [/^\s+$/, 'whitespace'],
  ]
  for (const [pattern, what] of edges) t.ok(someAt(pattern), `body string: ${what}`)
  for (const edge of [0, -1, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 1e21, 1.5]) t.ok(ns.has(edge), `body number: ${edge}`)
  for (const edge of ['period=0000-01', 'period=1969-12', 'period=10000-01', 'period=9999-12-31T23:59:59.999999-12:00', 'period=2147483648']) {
    t.ok(
      queries.some((query) => query.includes(edge)),
      `query: ${edge}`,
    )
  }
  for (const edge of ['/x/2147483648', '/x/9007199254740993', '/x/-0', '/x/1.5']) t.ok(paths.has(edge), `path: ${edge}`)
})
