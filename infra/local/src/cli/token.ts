import { parseArgs } from 'node:util'
import { answerHelp } from './help.ts'
import { localAuthSecret } from '../secret.ts'
import { fail } from './fail.ts'

// `npm run token -- --sub 42 [--role admin] [--ttl 3600]`: a JWT for the local stack, last line.
answerHelp(`
usage: npm run token -- --sub <user id> [--role user|admin] [--ttl <seconds>]
A JWT for the local stack (signed with its AUTH_SECRET), printed as the last line.
  --sub   the user id the token speaks for (required, a positive integer)
  --role  user (default) or admin
  --ttl   lifetime in seconds (default 3600)`)
try {
  const { values } = parseArgs({
    options: { sub: { type: 'string' }, role: { type: 'string', default: 'user' }, ttl: { type: 'string', default: '3600' } },
    strict: true,
  })
  const userId = Number(values.sub)
  if (!values.sub || !Number.isSafeInteger(userId) || userId < 1) throw new Error('--sub must be a positive user id, e.g. --sub 42')
  if (values.role !== 'user' && values.role !== 'admin') throw new Error('--role must be user or admin')
  const ttl = Number(values.ttl)
  if (!Number.isInteger(ttl) || ttl < 1) throw new Error('--ttl must be a positive number of seconds')
  // Imported once the flags are good: the kit loads the whole service toolkit, and --help or a bad flag should answer at once.
  const { signToken } = await import('@commerce/kit')
  console.log(signToken(localAuthSecret(), { userId, role: values.role }, ttl))
} catch (error) {
  fail(error)
}
