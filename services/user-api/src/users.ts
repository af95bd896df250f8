import {
  inTransaction,
  isDuplicateKey,
  type GradeHistory,
  type Order,
  type Pool,
  type ResultSetHeader,
  type Rows,
  type RowDataPacket,
  type User,
} from '@commerce/db'
import type { PeriodRange } from '@commerce/domain'

/** The columns an order is answered with, typed by the schema (the SQL aliases them to its property names). */
type OrderRow = Pick<Order, 'id' | 'amount' | 'category' | 'status' | 'orderedAt'>

export interface PlacedOrder {
  id: number
  userId: number
  amount: number
  category: string
  status: 'PAID' | 'CANCELLED'
  orderedAt: string
}

/**
 * Reads and writes of users, their grade history and orders. Raw mysql2 on the API pool: these
 * are the hottest routes under load, each one indexed statement, and plain reads never wait on
 * the batch's row locks (InnoDB consistent reads).
 */
export function createUserRepository(pool: Pool) {
  return {
    async find(id: number) {
      const [rows] = await pool.query<Rows<Pick<User, 'id' | 'name' | 'grade' | 'gradeUpdatedAt'>>>(
        'SELECT id, name, grade, grade_updated_at AS gradeUpdatedAt FROM users WHERE id = ?',
        [id],
      )
      const row = rows[0]
      return row ? { id: row.id, name: row.name, grade: row.grade, gradeUpdatedAt: row.gradeUpdatedAt?.toISOString() ?? null } : null
    },

    async exists(id: number): Promise<boolean> {
      const [rows] = await pool.query<RowDataPacket[]>('SELECT 1 FROM users WHERE id = ?', [id])
      return rows.length > 0
    },

    async gradeHistory(userId: number) {
      const [rows] = await pool.query<Rows<Omit<GradeHistory, 'id' | 'userId'>>>(
        `SELECT period, from_grade AS fromGrade, to_grade AS toGrade, total, order_count AS orderCount, created_at AS createdAt
         FROM grade_history WHERE user_id = ? ORDER BY period DESC`,
        [userId],
      )
      return rows.map((row) => ({ ...row, total: Number(row.total), createdAt: row.createdAt.toISOString() }))
    },

    /**
     * Places an order; with a key, in one transaction with the key's record. Returns null when
     * the key was recorded meanwhile (the caller reads that order with orderByKey): the unique
     * (user, key) decides between concurrent duplicates, and the loser's order is rolled back.
     */
    placeOrder(userId: number, amount: number, category: string, key?: string): Promise<PlacedOrder | null> {
      return inTransaction(pool, async (conn) => {
        const [inserted] = await conn.query<ResultSetHeader>(
          "INSERT INTO orders (user_id, amount, category, status, ordered_at) VALUES (?, ?, ?, 'PAID', NOW())",
          [userId, amount, category],
        )
        if (key !== undefined) {
          try {
            await conn.query('INSERT INTO order_requests (user_id, idempotency_key, order_id) VALUES (?, ?, ?)', [userId, key, inserted.insertId])
          } catch (error) {
            if (isDuplicateKey(error)) return null
            throw error
          }
        }
        const [rows] = await conn.query<Rows<Pick<Order, 'orderedAt'>>>('SELECT ordered_at AS orderedAt FROM orders WHERE id = ?', [inserted.insertId])
        const orderedAt = rows[0]?.orderedAt
        if (!orderedAt) throw new Error(`order ${inserted.insertId} is not readable in the transaction that wrote it`)
        return { id: inserted.insertId, userId, amount, category, status: 'PAID' as const, orderedAt: orderedAt.toISOString() }
      })
    },

    /** The order a user placed with this Idempotency-Key, if any. */
    async orderByKey(userId: number, key: string): Promise<PlacedOrder | null> {
      const [rows] = await pool.query<Rows<OrderRow>>(
        `SELECT o.id, o.amount, o.category, o.status, o.ordered_at AS orderedAt
         FROM order_requests r JOIN orders o ON o.id = r.order_id WHERE r.user_id = ? AND r.idempotency_key = ?`,
        [userId, key],
      )
      const row = rows[0]
      return row ? { ...row, userId, orderedAt: row.orderedAt.toISOString() } : null
    },

    /** One user's orders in a period, by the (user_id, ordered_at, amount, status) index. */
    async ordersIn(userId: number, range: PeriodRange, limit: number) {
      const [rows] = await pool.query<Rows<OrderRow>>(
        `SELECT id, amount, category, status, ordered_at AS orderedAt FROM orders
         WHERE user_id = ? AND ordered_at >= ? AND ordered_at < ? ORDER BY ordered_at DESC, id DESC LIMIT ?`,
        [userId, range.start, range.end, limit],
      )
      const [[sum]] = await pool.query<RowDataPacket[]>(
        `SELECT COALESCE(SUM(amount), 0) AS total, COUNT(*) AS n FROM orders
         WHERE user_id = ? AND ordered_at >= ? AND ordered_at < ? AND status = 'PAID'`,
        [userId, range.start, range.end],
      )
      return {
        orders: rows.map((row) => ({ ...row, orderedAt: row.orderedAt.toISOString() })),
        paidTotal: Number(sum?.total ?? 0),
        paidCount: Number(sum?.n ?? 0),
      }
    },
  }
}

export type UserRepository = ReturnType<typeof createUserRepository>
