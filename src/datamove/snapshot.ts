import type { Kysely } from 'kysely';
import { SwarmError } from '../errors/index.js';
import type { DatabaseHandle } from '../storage/index.js';
import type { TableSchema } from './types.js';

/** Kysely over tables known only at run time (from the catalogue). */
export type AnyDb = Kysely<Record<string, Record<string, unknown>>>;
export type Row = Record<string, unknown>;

/**
 * Runs `fn` on one consistent snapshot of the database, so every table (and a second pass for
 * checksums) sees the same committed state even while others write.
 */
export async function readSnapshot<T>(handle: DatabaseHandle, fn: (db: AnyDb) => Promise<T>): Promise<T> {
  return handle.dialect.readTransaction(handle.db as unknown as AnyDb, fn);
}

/** Rows of a read batch are also bounded by size: one batch of 1 MB JSON rows must not hold gigabytes. */
const BATCH_BYTES = 16 * 1024 * 1024;
/** The first batch is small until the table's row size is known. */
const FIRST_BATCH = 64;

function approximateBytes(row: Row): number {
  let bytes = 0;
  for (const value of Object.values(row)) {
    if (typeof value === 'string') bytes += value.length * 2;
    else if (Buffer.isBuffer(value)) bytes += value.length;
    else bytes += 8;
  }
  return bytes;
}

/**
 * Reads a whole table in primary-key order, a batch at a time, by keyset pagination
 * (`WHERE id > last ORDER BY id LIMIT n`): each query is an index range scan, unlike OFFSET
 * whose cost grows with the offset. Call inside `readSnapshot` for a consistent result.
 */
export async function* readBatches(db: AnyDb, table: TableSchema, batchSize: number): AsyncGenerator<Row[]> {
  const columns = table.columns.map((c) => c.name);
  let last: string | undefined;
  let limit = Math.min(batchSize, FIRST_BATCH);
  for (;;) {
    let query = db.selectFrom(table.name).select(columns).orderBy('id').limit(limit);
    if (last !== undefined) query = query.where('id', '>', last);
    const rows = await query.execute();
    if (rows.length === 0) return;
    yield rows;
    if (rows.length < limit) return;
    const id = rows[rows.length - 1]!.id;
    if (typeof id !== 'string') {
      throw new SwarmError('INTERNAL', `${table.name}: a row's id is ${typeof id}, not text`);
    }
    last = id;
    const perRow = rows.reduce((sum, row) => sum + approximateBytes(row), 0) / rows.length;
    limit = Math.max(1, Math.min(batchSize, Math.floor(BATCH_BYTES / Math.max(perRow, 1))));
  }
}
