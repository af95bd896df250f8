import t from 'tap'
import { AppError, defineErrors } from '../src/errors.ts'

t.test('a refusal (4xx) is built without a stack, a server error (5xx) keeps its stack', async (t) => {
  const errors = defineErrors({ GONE: [410, 'gone'], BROKEN: [503, 'broken'] })
  const refusal = errors.GONE('the quota is filled')
  t.ok(refusal instanceof AppError)
  t.same([refusal.statusCode, refusal.code, refusal.message], [410, 'GONE', 'the quota is filled'])
  t.notMatch(refusal.stack ?? '', /\n\s+at /, 'no frames captured for a 4xx')
  const fault = errors.BROKEN()
  t.match(fault.stack ?? '', /\n\s+at /, 'a 5xx has its frames')
  t.match(new Error('after').stack ?? '', /\n\s+at /, 'and other errors still capture theirs')
})
