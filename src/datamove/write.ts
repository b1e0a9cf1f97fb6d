import { sql } from 'kysely';
import { SwarmError } from '../errors/index.js';
import {
  danglingReferenceError,
  toDbTimestamp,
  type ColumnInfo,
  type DialectAdapter,
  type DialectName,
} from '../storage/index.js';
import type { AnyDb, Row } from './snapshot.js';
import type { TableSchema } from './types.js';

const PG_INT4 = { min: -2_147_483_648, max: 2_147_483_647 } as const;
const CANONICAL_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** What to do about rows of the source that name a row it does not have. */
export const DANGLING_FIX =
  'Delete or repair those rows in the source (their parents were deleted while they were written), then copy again';

/** Rows per INSERT so that rows × columns stays under the target's parameter limit. */
export function rowsPerInsert(maxParameters: number, columnCount: number, batchSize: number): number {
  return Math.max(1, Math.min(batchSize, Math.floor(maxParameters / Math.max(columnCount, 1))));
}

function unrepresentable(table: string, column: ColumnInfo, row: Row, why: string): SwarmError {
  return new SwarmError(
    'COPY_FAILED',
    `${table}.${column.name} of row ${String(row.id)} ${why}; the copy was rolled back, nothing was written`,
    { context: { table, column: column.name, id: row.id } },
  );
}

/**
 * A source value as the target takes it, by logical type. Both dialects read values back in the
 * same shapes (see storage/values.ts), so this mostly passes them through; it turns booleans
 * into 0/1 (which both accept), and refuses a value the target would reject or silently change,
 * naming the row, instead of letting it fail deep inside a batch insert.
 */
export function toTargetValue(
  target: DialectName,
  table: string,
  column: ColumnInfo,
  row: Row,
  value: unknown,
): unknown {
  if (value === null || value === undefined) return null;
  const kind = typeof value;
  switch (column.type) {
    case 'text':
    case 'json':
      // JSON arrives as its text on both dialects; jsonb parses and normalises it on the way in.
      if (kind === 'string') return value;
      break;
    case 'boolean':
      if (value === true || value === 1) return 1;
      if (value === false || value === 0) return 0;
      break;
    case 'timestamp':
      if (kind === 'string') {
        if (CANONICAL_TIMESTAMP.test(value as string)) return value;
        try {
          return toDbTimestamp(value as string);
        } catch {
          throw unrepresentable(table, column, row, `is not an ISO-8601 timestamp with a zone: "${value}"`);
        }
      }
      break;
    case 'blob':
      if (Buffer.isBuffer(value)) return value;
      if (value instanceof Uint8Array) return Buffer.from(value);
      break;
    case 'integer':
    case 'bigint':
      if (kind === 'number') {
        if (!Number.isInteger(value))
          throw unrepresentable(table, column, row, `holds ${value}, not an integer`);
        const n = value as number;
        // The SQLite driver reads integers as JS numbers, exact only up to 2^53 (PostgreSQL's
        // reader gives larger ones as digits). A number past that was already rounded on the
        // way out of the source, and the checksum of what was read cannot notice: refuse it.
        if (!Number.isSafeInteger(n))
          throw unrepresentable(
            table,
            column,
            row,
            `holds ${value}, beyond 2^53, which the SQLite driver reads only approximately`,
          );
        if (column.type === 'integer' && target === 'postgres' && (n < PG_INT4.min || n > PG_INT4.max))
          throw unrepresentable(table, column, row, `holds ${value}, beyond PostgreSQL's 32-bit integer`);
        return value;
      }
      // Beyond 2^53 PostgreSQL hands back the digits; both dialects read them back as the integer.
      if (kind === 'bigint' || (kind === 'string' && /^-?\d+$/.test(value as string))) return value;
      break;
    case 'real':
      if (kind === 'number') {
        if (Number.isNaN(value) && target === 'sqlite')
          throw unrepresentable(table, column, row, 'holds NaN, which SQLite stores as NULL');
        return value;
      }
      break;
  }
  throw unrepresentable(
    table,
    column,
    row,
    `holds a ${Buffer.isBuffer(value) ? 'blob' : kind} where a ${column.type} belongs`,
  );
}

/** Inserts rows in multi-row statements sized to the target's parameter limit. */
export async function insertRows(
  trx: AnyDb,
  dialect: DialectAdapter,
  table: TableSchema,
  rows: readonly Row[],
  batchSize: number,
): Promise<void> {
  const target = dialect.name;
  const chunk = rowsPerInsert(dialect.maxParameters, table.columns.length, batchSize);
  for (let start = 0; start < rows.length; start += chunk) {
    const slice = rows.slice(start, start + chunk);
    const values = slice.map((row) => {
      const out: Row = {};
      for (const column of table.columns) {
        out[column.name] = toTargetValue(target, table.name, column, row, row[column.name]);
      }
      return out;
    });
    try {
      await trx.insertInto(table.name).values(values).execute();
    } catch (error) {
      // A reference the target checks at once (PostgreSQL's reference triggers): named like the
      // ones checked before the commit.
      const missing = dialect.foreignKeyViolation(error);
      if (missing !== null) {
        const { column, value } = missing;
        const child = column === null ? undefined : slice.find((row) => String(row[column]) === value);
        throw danglingReferenceError(
          [{ ...missing, id: child === undefined ? null : String(child.id) }],
          `copying ${table.name}`,
          DANGLING_FIX,
        );
      }
      const first = String(slice[0]?.id);
      const last = String(slice[slice.length - 1]?.id);
      throw new SwarmError(
        'COPY_FAILED',
        `inserting ${table.name} rows ${first} … ${last} failed: ${(error as Error).message}; the copy was rolled back, nothing was written`,
        { cause: error, context: { table: table.name } },
      );
    }
  }
}

/** Rows in each table that has any, as `{ table: count }`. */
export async function countNonEmpty(db: AnyDb, tables: readonly TableSchema[]): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for (const table of tables) {
    const { n } = await db
      .selectFrom(table.name)
      .select(sql<number | string>`count(*)`.as('n'))
      .executeTakeFirstOrThrow();
    if (Number(n) > 0) found.set(table.name, Number(n));
  }
  return found;
}

/**
 * Empties the tables, children first (reverse creation order): ON DELETE RESTRICT is checked
 * at once on both dialects even with the other foreign keys deferred.
 */
export async function clearTables(db: AnyDb, tables: readonly TableSchema[]): Promise<void> {
  for (const table of [...tables].reverse()) await db.deleteFrom(table.name).execute();
}
