import t from 'tap'
import { builtInStrategies, bulkStrategy, strategyNamed } from '../../src/job/chunks.ts'

t.test("a strategy is one of the worker's own names: Object.prototype's are unknown, not Object or its methods", async (t) => {
  t.equal(strategyNamed(builtInStrategies, 'bulk'), bulkStrategy)
  for (const name of Object.getOwnPropertyNames(Object.prototype)) {
    t.throws(() => strategyNamed(builtInStrategies, name), { code: 'UNKNOWN_STRATEGY' }, name)
  }
})
