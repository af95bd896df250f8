import { Readable } from 'node:stream'
import { performance } from 'node:perf_hooks'
import { createConnection, type Connection, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise'
import { defaultBusinessTimeZone, defaultGradePolicy, gradeFor, monthStart, parsePeriod, type Grade } from '@commerce/domain'

/**
 * The data generator behind `npm run seed`: N users and M orders around one month, the same
 * rows (ids and timestamps included) for the same flags, bulk-loaded with LOAD DATA LOCAL INFILE.
 */
export interface SeedOptions {
  url: string
  users: number
  orders: number
  /** The month the grade batch will judge, `YYYY-MM` (UTC); ~17.5% of orders fall in the months around it. */
  period: string
  /** Same seed and sizes, same rows. A non-negative 32-bit integer. */
  seed: number
  /** Empty the tables the generator owns first; without it a non-empty users or orders table is refused. */
  reset: boolean
  /**
   * Called as order rows are streamed to the server, every 8,192 rows and at the end. The server
   * finishes its index build after the last call (about a quarter of the time at 1M orders).
   */
  onProgress?: (doneOrders: number, totalOrders: number) => void
}

export interface SeedResult {
  users: number
  orders: number
  seconds: number
  /** Users per grade implied by the generated PAID orders inside `period` (what the batch should find). */
  grades: Record<Grade, number>
}

/**
 * What the monthly batch (and the coupon APIs) derive from the users and their orders; a bench
 * empties these to run the batch again on the same data.
 */
export const derivedTables = [
  'grade_history',
  'coupons',
  'coupon_redemptions',
  'batch_runs',
  'batch_targets',
  // Keyed by run id, which starts again from 1 once batch_runs is emptied.
  'batch_target_sets',
  'batch_chunk_events',
  'step_execution_log',
] as const

/**
 * Emptied by `reset`: the users, their orders and everything derived from them.
 * was_instances (live replicas) and events (the first-come event) are not the generator's.
 */
export const seedOwnedTables = [
  'users',
  'orders',
  // Keys point at order ids, which the generator hands out again from 1.
  'order_requests',
  ...derivedTables,
] as const

// ---------------------------------------------------------------------------------------------
// Shape of the data. Shares are of all orders / all users; amounts are KRW.

/** Orders in the month before and after the period: the batch must ignore them. */
const previousMonthShare = 0.1
const nextMonthShare = 0.075
/** CANCELLED orders in every month: never count towards a grade. */
const cancelledShare = 0.05
/** Users with no order at all in the period (they may have some in the months around it). */
const inactiveUserShare = 0.07
const minimumOrderAmount = 1_000

const { VIP, GOLD, SILVER } = defaultGradePolicy.thresholds
/**
 * Latent monthly PAID spend by quantile of the user population: half the users below SILVER,
 * 30% SILVER, 15% GOLD, 5% VIP. Within a band the level is log-uniform (more small spenders).
 */
const spendBands = [
  { upToQuantile: 0.5, min: 5_000, max: SILVER },
  { upToQuantile: 0.8, min: SILVER, max: GOLD },
  { upToQuantile: 0.95, min: GOLD, max: VIP },
  { upToQuantile: 1, min: VIP, max: 4 * VIP },
] as const
/**
 * Heavier spenders order more often *and* buy bigger baskets: order count grows with the square
 * root of the spend level, so does the average basket.
 */
const orderCountExponent = 0.5

const categories = ['food', 'books', 'beauty', 'sports', 'fashion', 'home', 'electronics'] as const
/** Category mix (percent, in `categories` order) by basket size: groceries are cheap, TVs are not. */
const categoryMixBySize = [
  { below: 10_000, weights: [50, 15, 15, 5, 10, 5, 0] },
  { below: 50_000, weights: [15, 10, 15, 15, 25, 12, 8] },
  { below: Infinity, weights: [0, 0, 5, 15, 30, 25, 25] },
] as const

/**
 * Orders per hour of the local day in Korea: a lunch bump and an evening peak. Days and months
 * are those of the business time zone (Asia/Seoul, no DST), like the batch's periods.
 */
const ordersByKstHour = [3, 2, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 7, 6, 6, 6, 6, 7, 8, 9, 10, 9, 6]

/** Users signed up some time in the two years before the first generated order. */
const signupWindowSeconds = 730 * 86_400

// ---------------------------------------------------------------------------------------------
// Deterministic randomness.

interface Random {
  /** Uniform in [0, 1). */
  next(): number
  /** Uniform integer in [0, n). */
  below(n: number): number
}

/**
 * sfc32 seeded through splitmix32: tiny, fast, and the same numbers on every platform.
 * Each part of the data draws from its own stream, so changing how orders are timed does not
 * reshuffle which users are VIP.
 */
function createRandom(seed: number, stream: number): Random {
  let mix = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0
  const splitmix = () => {
    mix = (mix + 0x9e3779b9) | 0
    let z = mix
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = splitmix()
  let b = splitmix()
  let c = splitmix()
  let d = splitmix()
  const next32 = () => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return t >>> 0
  }
  for (let i = 0; i < 15; i++) next32()
  const next = () => next32() / 4_294_967_296
  return { next, below: (n) => Math.floor(next() * n) }
}

const randomStreams = { users: 1, timing: 2, paidSplit: 3, cancelled: 4, aroundPeriod: 5, shuffle: 6, category: 7 } as const

function shuffleInPlace(values: Uint32Array, random: Random): void {
  for (let i = values.length - 1; i > 0; i--) {
    const j = random.below(i + 1)
    const swap = values[i]!
    values[i] = values[j]!
    values[j] = swap
  }
}

/** Draws indexes in proportion to their weights (binary search over the running sum). */
function createWeightedPicker(weights: ArrayLike<number>): (random: Random) => number {
  const cumulative = new Float64Array(weights.length)
  let sum = 0
  for (let i = 0; i < weights.length; i++) cumulative[i] = sum += weights[i]!
  return (random) => {
    const target = random.next() * sum
    let low = 0
    let high = cumulative.length - 1
    while (low < high) {
      const middle = (low + high) >>> 1
      if (cumulative[middle]! > target) high = middle
      else low = middle + 1
    }
    return low
  }
}

/** A right-skewed basket-size factor with mean 1 (most baskets small, a few large). */
function basketFactor(random: Random): number {
  return (0.25 - Math.log(1 - random.next())) / 1.25
}

const roundToHundred = (amount: number) => Math.max(minimumOrderAmount, Math.round(amount / 100) * 100)

// ---------------------------------------------------------------------------------------------
// The plan: every row as numbers, before any text is made.

interface SeedPlan {
  userCount: number
  orderCount: number
  /** Seconds before `firstMonthStart` each user signed up (index = user id - 1). */
  signupSecondsBefore: Uint32Array
  /** Per order (index = order id - 1), in ordered_at order. */
  orderUser: Uint32Array
  orderAmount: Uint32Array
  orderCategory: Uint8Array
  orderCancelled: Uint8Array
  /** Seconds after `firstMonthStart`. */
  orderSecond: Uint32Array
  /** First instant (UTC ms) of the month before the period. */
  firstMonthStart: number
  /** Days in the previous month, the period and the next month. */
  monthDays: [number, number, number]
  grades: Record<Grade, number>
}

interface PlanSpec {
  users: number
  orders: number
  period: string
  seed: number
}

function daysIn(year: number, monthIndex: number): number {
  return new Date(Date.UTC(year, monthIndex + 1, 1) - 86_400_000).getUTCDate()
}

/** Each user's latent monthly spend, order weight, signup and whether they buy in the period. */
interface UserPlan {
  spendLevel: Float64Array
  orderWeight: Float64Array
  signupSecondsBefore: Uint32Array
  activeInPeriod: Uint8Array
}

/** Orders per month (ids follow ordered_at, as an auto-increment would in production). */
interface MonthCounts {
  previous: number
  period: number
  next: number
  /** Of the period's orders, how many are PAID (the rest are CANCELLED). */
  periodPaid: number
}

/** The order columns, filled step by step (index = order id - 1). */
type OrderColumns = Pick<SeedPlan, 'orderUser' | 'orderAmount' | 'orderCategory' | 'orderCancelled' | 'orderSecond'>

function planSeedData(spec: PlanSpec): SeedPlan {
  if (!parsePeriod(spec.period)) throw new Error(`period must be YYYY-MM, got "${spec.period}"`)
  const [year, month] = [Number(spec.period.slice(0, 4)), Number(spec.period.slice(5, 7)) - 1]
  const firstMonthStart = monthStart(year, month - 1, defaultBusinessTimeZone).getTime()
  const monthDays: [number, number, number] = [daysIn(year, month - 1), daysIn(year, month), daysIn(year, month + 1)]

  const users = planUsers(spec)
  const counts = monthCounts(spec.orders)
  const orders: OrderColumns = {
    orderUser: new Uint32Array(spec.orders),
    orderAmount: new Uint32Array(spec.orders),
    orderCategory: new Uint8Array(spec.orders),
    orderCancelled: new Uint8Array(spec.orders),
    orderSecond: new Uint32Array(spec.orders),
  }
  const typicalAmount = planPeriodOrders(spec.seed, users, counts, orders)
  planOrdersAroundPeriod(spec.seed, users.orderWeight, typicalAmount, counts, orders)
  planOrderTimes(spec.seed, counts, monthDays, orders.orderSecond)
  planCategories(spec.seed, orders)

  return {
    userCount: spec.users,
    orderCount: spec.orders,
    signupSecondsBefore: users.signupSecondsBefore,
    ...orders,
    firstMonthStart,
    monthDays,
    grades: gradesOfPeriod(spec.users, counts, orders),
  }
}

/**
 * A latent monthly spend level from a stratified quantile (each user gets its own slice of [0, 1)
 * in random order), so the grade split holds at 2,000 users as well as at 30,000. The lowest
 * ranks sit out the period entirely.
 */
function planUsers({ users: userCount, seed }: PlanSpec): UserPlan {
  const userRandom = createRandom(seed, randomStreams.users)
  const rank = new Uint32Array(userCount)
  for (let i = 0; i < userCount; i++) rank[i] = i
  shuffleInPlace(rank, userRandom)
  const inactiveCount = Math.floor(userCount * inactiveUserShare)
  const plan: UserPlan = {
    spendLevel: new Float64Array(userCount),
    orderWeight: new Float64Array(userCount),
    signupSecondsBefore: new Uint32Array(userCount),
    activeInPeriod: new Uint8Array(userCount),
  }
  for (let user = 0; user < userCount; user++) {
    const quantile = (rank[user]! + userRandom.next()) / userCount
    let bandStart = 0
    for (const band of spendBands) {
      if (quantile < band.upToQuantile || band.upToQuantile === 1) {
        const position = (quantile - bandStart) / (band.upToQuantile - bandStart)
        const level = Math.floor((band.min * (band.max / band.min) ** position) / 100) * 100
        plan.spendLevel[user] = Math.min(Math.max(level, band.min), band.max - 100)
        break
      }
      bandStart = band.upToQuantile
    }
    plan.orderWeight[user] = plan.spendLevel[user]! ** orderCountExponent
    plan.signupSecondsBefore[user] = 1 + userRandom.below(signupWindowSeconds)
  }
  for (let user = 0; user < userCount; user++) plan.activeInPeriod[user] = rank[user]! >= inactiveCount ? 1 : 0
  return plan
}

function monthCounts(orderCount: number): MonthCounts {
  const previous = Math.round(orderCount * previousMonthShare)
  const next = Math.round(orderCount * nextMonthShare)
  const period = orderCount - previous - next
  return { previous, period, next, periodPaid: period - Math.round(period * cancelledShare) }
}

/** Period PAID orders per user: the largest-remainder share of each active user by order weight. */
function allocatePaidOrders({ orderWeight, activeInPeriod }: UserPlan, periodPaid: number): { paidCount: Uint32Array; activeWeight: number } {
  const userCount = orderWeight.length
  let activeWeight = 0
  for (let user = 0; user < userCount; user++) if (activeInPeriod[user]) activeWeight += orderWeight[user]!
  const paidCount = new Uint32Array(userCount)
  const remainders: Array<{ user: number; remainder: number }> = []
  let allocated = 0
  for (let user = 0; user < userCount; user++) {
    if (!activeInPeriod[user]) continue
    const exact = (periodPaid * orderWeight[user]!) / activeWeight
    paidCount[user] = Math.floor(exact)
    allocated += paidCount[user]!
    remainders.push({ user, remainder: exact - paidCount[user]! })
  }
  remainders.sort((x, y) => y.remainder - x.remainder || x.user - y.user)
  for (let i = 0; allocated < periodPaid; i++, allocated++) paidCount[remainders[i % remainders.length]!.user]!++
  return { paidCount, activeWeight }
}

/**
 * The period's orders, built user by user (each user's PAID total is their latent level, in
 * whole baskets), then the cancelled ones, then shuffled over the month's sorted timestamps.
 * Returns what one basket of a user costs on average, for the orders around the period.
 */
function planPeriodOrders(seed: number, users: UserPlan, counts: MonthCounts, orders: OrderColumns): (user: number) => number {
  const { spendLevel, orderWeight, activeInPeriod } = users
  const { paidCount, activeWeight } = allocatePaidOrders(users, counts.periodPaid)
  /** A user's level spread over their expected orders. */
  const typicalAmount = (user: number) => Math.max(minimumOrderAmount, spendLevel[user]! / Math.max(1, (counts.periodPaid * orderWeight[user]!) / activeWeight))

  const periodUser = new Uint32Array(counts.period)
  const periodAmount = new Uint32Array(counts.period)
  const periodCancelledFlag = new Uint8Array(counts.period)
  const splitRandom = createRandom(seed, randomStreams.paidSplit)
  let cursor = 0
  const factors: number[] = []
  for (let user = 0; user < spendLevel.length; user++) {
    const count = paidCount[user]!
    if (count === 0) continue
    // Every basket at least the minimum.
    const total = Math.max(spendLevel[user]!, count * minimumOrderAmount)
    factors.length = 0
    let factorSum = 0
    let largest = 0
    for (let i = 0; i < count; i++) {
      const factor = basketFactor(splitRandom)
      factors.push(factor)
      factorSum += factor
      if (factor > factors[largest]!) largest = i
    }
    const spare = total - count * minimumOrderAmount
    let spent = 0
    for (let i = 0; i < count; i++) {
      const amount = minimumOrderAmount + Math.floor((spare * factors[i]!) / factorSum / 100) * 100
      periodUser[cursor + i] = user
      periodAmount[cursor + i] = amount
      spent += amount
    }
    periodAmount[cursor + largest]! += total - spent
    cursor += count
  }
  const cancelledRandom = createRandom(seed, randomStreams.cancelled)
  const pickActiveUser = createWeightedPicker(Float64Array.from(orderWeight, (weight, user) => (activeInPeriod[user] ? weight : 0)))
  for (; cursor < counts.period; cursor++) {
    const user = pickActiveUser(cancelledRandom)
    periodUser[cursor] = user
    periodAmount[cursor] = roundToHundred(typicalAmount(user) * basketFactor(cancelledRandom))
    periodCancelledFlag[cursor] = 1
  }
  const shuffleRandom = createRandom(seed, randomStreams.shuffle)
  const periodOrder = new Uint32Array(counts.period)
  for (let i = 0; i < counts.period; i++) periodOrder[i] = i
  shuffleInPlace(periodOrder, shuffleRandom)
  for (let i = 0; i < counts.period; i++) {
    const from = periodOrder[i]!
    orders.orderUser[counts.previous + i] = periodUser[from]!
    orders.orderAmount[counts.previous + i] = periodAmount[from]!
    orders.orderCancelled[counts.previous + i] = periodCancelledFlag[from]!
  }
  return typicalAmount
}

/** The months around the period: any user (the period's inactive ones too), same habits. */
function planOrdersAroundPeriod(
  seed: number,
  orderWeight: Float64Array,
  typicalAmount: (user: number) => number,
  counts: MonthCounts,
  orders: OrderColumns,
): void {
  const aroundRandom = createRandom(seed, randomStreams.aroundPeriod)
  const pickAnyUser = createWeightedPicker(orderWeight)
  const fill = (start: number, count: number) => {
    const cancelled = Math.round(count * cancelledShare)
    const slots = new Uint32Array(count)
    for (let i = 0; i < count; i++) slots[i] = i
    shuffleInPlace(slots, aroundRandom)
    for (let i = 0; i < count; i++) {
      const user = pickAnyUser(aroundRandom)
      orders.orderUser[start + i] = user
      orders.orderAmount[start + i] = roundToHundred(typicalAmount(user) * basketFactor(aroundRandom))
    }
    for (let i = 0; i < cancelled; i++) orders.orderCancelled[start + slots[i]!] = 1
  }
  fill(0, counts.previous)
  fill(counts.previous + counts.period, counts.next)
}

/** Timestamps: a uniform day and a weighted hour, sorted within each month. */
function planOrderTimes(seed: number, counts: MonthCounts, monthDays: [number, number, number], orderSecond: Uint32Array): void {
  const timingRandom = createRandom(seed, randomStreams.timing)
  const pickHour = createWeightedPicker(ordersByKstHour)
  const months = [
    { start: 0, count: counts.previous, firstDay: 0, days: monthDays[0] },
    { start: counts.previous, count: counts.period, firstDay: monthDays[0], days: monthDays[1] },
    { start: counts.previous + counts.period, count: counts.next, firstDay: monthDays[0] + monthDays[1], days: monthDays[2] },
  ]
  for (const { start, count, firstDay, days } of months) {
    for (let i = start; i < start + count; i++) {
      const day = firstDay + timingRandom.below(days)
      orderSecond[i] = day * 86_400 + pickHour(timingRandom) * 3_600 + timingRandom.below(3_600)
    }
    orderSecond.subarray(start, start + count).sort()
  }
}

function planCategories(seed: number, { orderAmount, orderCategory }: OrderColumns): void {
  const categoryRandom = createRandom(seed, randomStreams.category)
  for (let i = 0; i < orderAmount.length; i++) {
    const amount = orderAmount[i]!
    const mix = categoryMixBySize.find((size) => amount < size.below) ?? categoryMixBySize[0]
    orderCategory[i] = pickCategory(mix.weights, categoryRandom)
  }
}

/** What the batch will find: summed from the rows just planned, not taken from the latent levels. */
function gradesOfPeriod(userCount: number, counts: MonthCounts, orders: OrderColumns): Record<Grade, number> {
  const periodPaidTotal = new Float64Array(userCount)
  for (let i = counts.previous; i < counts.previous + counts.period; i++) {
    if (!orders.orderCancelled[i]) periodPaidTotal[orders.orderUser[i]!]! += orders.orderAmount[i]!
  }
  const grades: Record<Grade, number> = { VIP: 0, GOLD: 0, SILVER: 0, BRONZE: 0 }
  for (let user = 0; user < userCount; user++) grades[gradeFor(periodPaidTotal[user]!, defaultGradePolicy)]++
  return grades
}

function pickCategory(weights: readonly number[], random: Random): number {
  let target = random.next() * 100
  for (let i = 0; i < weights.length; i++) {
    target -= weights[i]!
    if (target < 0) return i
  }
  return 0
}

// ---------------------------------------------------------------------------------------------
// Rows as text for LOAD DATA: tab-separated, one row a line, nothing that needs escaping.

/** ~400 KB of order text: each chunk travels as one protocol packet, far below the 16 MB limit. */
const rowsPerChunk = 8_192
const pad2 = (value: number) => String(value).padStart(2, '0')

function formatUtc(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ')
}

function* userRows(plan: SeedPlan): Generator<Buffer> {
  const idWidth = Math.max(6, String(plan.userCount).length)
  let text = ''
  for (let user = 0; user < plan.userCount; user++) {
    const id = user + 1
    const createdAt = formatUtc(plan.firstMonthStart - plan.signupSecondsBefore[user]! * 1000)
    text += `${id}\tuser-${String(id).padStart(idWidth, '0')}\tBRONZE\t${createdAt}\n`
    if (id % rowsPerChunk === 0) {
      yield Buffer.from(text)
      text = ''
    }
  }
  if (text) yield Buffer.from(text)
}

/** Every order row; ordered_at comes from two lookup tables instead of a Date per row. */
function* orderRows(plan: SeedPlan, onRows: (rows: number) => void): Generator<Buffer> {
  // Order seconds count from local midnight of the first month; rows are written in UTC, so
  // shift them onto UTC days (the first local midnight is `shift` seconds into its UTC day).
  const utcMidnight = Math.floor(plan.firstMonthStart / 86_400_000) * 86_400_000
  const shift = (plan.firstMonthStart - utcMidnight) / 1000
  const totalDays = plan.monthDays[0] + plan.monthDays[1] + plan.monthDays[2] + 1
  const dayPrefix = Array.from({ length: totalDays }, (_, day) => formatUtc(utcMidnight + day * 86_400_000).slice(0, 11))
  const timeOfDay = Array.from(
    { length: 86_400 },
    (_, second) => `${pad2(Math.floor(second / 3600))}:${pad2(Math.floor(second / 60) % 60)}:${pad2(second % 60)}`,
  )
  let text = ''
  let rowsInText = 0
  for (let i = 0; i < plan.orderCount; i++) {
    const second = plan.orderSecond[i]! + shift
    const day = Math.floor(second / 86_400)
    const status = plan.orderCancelled[i] ? 'CANCELLED' : 'PAID'
    text += `${i + 1}\t${plan.orderUser[i]! + 1}\t${plan.orderAmount[i]}\t${categories[plan.orderCategory[i]!]}\t${status}\t${dayPrefix[day]}${timeOfDay[second - day * 86_400]}\n`
    if (++rowsInText === rowsPerChunk) {
      yield Buffer.from(text)
      onRows(rowsInText)
      text = ''
      rowsInText = 0
    }
  }
  if (text) {
    yield Buffer.from(text)
    onRows(rowsInText)
  }
}

/**
 * One LOAD DATA LOCAL statement per table. The file name is only a label: the stream factory
 * answers the server's request for it with our rows, so nothing touches the disk.
 * With LOCAL the server downgrades bad rows to warnings (it cannot stop the upload), so the
 * row count and the warnings are checked here instead.
 */
async function loadRows(connection: Connection, table: string, columns: readonly string[], rows: Iterable<Buffer>, expected: number): Promise<void> {
  const sql =
    `LOAD DATA LOCAL INFILE 'seed-${table}.tsv' INTO TABLE ${table} CHARACTER SET utf8mb4 ` +
    `FIELDS TERMINATED BY '\\t' ESCAPED BY '' LINES TERMINATED BY '\\n' (${columns.join(', ')})`
  const [result] = await connection.query<ResultSetHeader>({ sql, infileStreamFactory: () => Readable.from(rows, { objectMode: false }) })
  if (result.affectedRows !== expected || result.warningStatus !== 0) {
    const [warnings] = await connection.query<RowDataPacket[]>('SHOW WARNINGS LIMIT 3')
    const detail = warnings.map((warning) => String(warning.Message)).join('; ')
    throw new Error(`loading ${table}: ${result.affectedRows} of ${expected} rows, ${result.warningStatus} warnings${detail ? `: ${detail}` : ''}`)
  }
}

// ---------------------------------------------------------------------------------------------

/** The whole plan is built in memory (~30 bytes an order) before it is streamed, hence a ceiling. */
const maxUsers = 10_000_000
const maxOrders = 100_000_000

function validate(options: SeedOptions): void {
  const isCount = (value: number, min: number, max: number) => Number.isSafeInteger(value) && value >= min && value <= max
  if (!isCount(options.users, 1, maxUsers)) throw new Error(`users must be an integer from 1 to ${maxUsers}, got ${options.users}`)
  if (!isCount(options.orders, 0, maxOrders)) throw new Error(`orders must be an integer from 0 to ${maxOrders}, got ${options.orders}`)
  if (!isCount(options.seed, 0, 0xffff_ffff)) throw new Error(`seed must be an integer from 0 to 4294967295, got ${options.seed}`)
  if (!parsePeriod(options.period)) throw new Error(`period must be YYYY-MM, got "${options.period}"`)
}

async function refuseUnlessEmpty(connection: Connection): Promise<void> {
  // orders too: the generated order ids start at 1 and would collide with existing rows.
  for (const table of ['users', 'orders']) {
    const [rows] = await connection.query<RowDataPacket[]>(`SELECT EXISTS (SELECT 1 FROM ${table}) AS used`)
    if (rows[0]?.used) throw new Error(`${table} is not empty: seed with reset to replace the data (it empties ${seedOwnedTables.join(', ')})`)
  }
}

/**
 * Generates and loads the data set. Same options, same rows, byte for byte (ids and timestamps
 * included): everything comes from a seeded PRNG and the period, nothing from the clock.
 * The tables are loaded in one LOAD DATA statement each (bulk, ~4 s for 1M orders on 2 cores);
 * the secondary indexes stay in place and are built by the same statement.
 */
export async function seedData(options: SeedOptions): Promise<SeedResult> {
  validate(options)
  const started = performance.now()
  const connection = await createConnection({ uri: options.url, timezone: 'Z', connectTimeout: 5_000 })
  try {
    const [settings] = await connection.query<RowDataPacket[]>('SELECT @@GLOBAL.local_infile AS localInfile')
    if (!settings[0]?.localInfile) {
      throw new Error('the database server refuses LOAD DATA LOCAL INFILE: start it with --local-infile=1 (or SET GLOBAL local_infile = 1)')
    }
    // Unique checks off on an empty table lets InnoDB build each index by sorting instead of row
    // by row (MariaDB's bulk insert): ~2x faster. The ids are unique by construction.
    await connection.query(`SET SESSION time_zone = '+00:00', SESSION unique_checks = 0, SESSION foreign_key_checks = 0`)
    if (options.reset) {
      for (const table of seedOwnedTables) await connection.query(`TRUNCATE TABLE ${table}`)
    } else {
      await refuseUnlessEmpty(connection)
    }

    const plan = planSeedData(options)
    await loadRows(connection, 'users', ['id', 'name', 'grade', 'created_at'], userRows(plan), plan.userCount)
    let doneOrders = 0
    const reportRows = (rows: number) => {
      doneOrders += rows
      options.onProgress?.(doneOrders, plan.orderCount)
    }
    const orderColumns = ['id', 'user_id', 'amount', 'category', 'status', 'ordered_at']
    if (plan.orderCount > 0) await loadRows(connection, 'orders', orderColumns, orderRows(plan, reportRows), plan.orderCount)
    // Fresh statistics, so the first batch query is planned for a million rows, not an empty table.
    await connection.query('ANALYZE TABLE users, orders')
    return { users: plan.userCount, orders: plan.orderCount, seconds: (performance.now() - started) / 1000, grades: plan.grades }
  } finally {
    await connection.end()
  }
}
