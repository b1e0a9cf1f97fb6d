import { sql } from 'kysely';
import { InputError, SwarmError } from '../errors/index.js';
import type { DatabaseHandle } from '../storage/index.js';
import { canonicalColumnOrder, TableHasher } from './canonical.js';
import { readCatalogue } from './catalogue.js';
import { readBatches, readSnapshot, type AnyDb } from './snapshot.js';
import type { TableChecksum, TableSchema } from './types.js';

export const DEFAULT_BATCH_SIZE = 1000;

/**
 * The audit action a copy records in its target, in the copy's transaction. Those rows are left
 * out of the checksums on both sides: the target holds one the source cannot have, and a copy
 * is proven equal to its source in everything else.
 */
export const COPY_AUDIT_ACTION = 'database.copy';

export function checkBatchSize(batchSize: number | undefined): number {
  const size = batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new InputError('batchSize', `must be a positive integer, got ${String(batchSize)}`);
  }
  return size;
}

/**
 * Row count and checksum of each table, read from `db` (already inside a snapshot). The count
 * comes from COUNT(*), independently of the paginated read that feeds the checksum, so a read
 * that skipped or repeated rows would be caught here rather than hidden on both sides.
 */
export async function checksumTables(
  db: AnyDb,
  tables: readonly TableSchema[],
  batchSize: number,
): Promise<TableChecksum[]> {
  const result: TableChecksum[] = [];
  for (const table of tables) {
    const hasher = new TableHasher(canonicalColumnOrder(table.columns));
    const audit = table.name === 'audit_logs';
    for await (const batch of readBatches(db, table, batchSize)) {
      for (const row of batch) if (!audit || row.action !== COPY_AUDIT_ACTION) hasher.add(row);
    }
    const counted = await db
      .selectFrom(table.name)
      .select(sql<number | string>`count(*)`.as('n'))
      .$if(audit, (q) => q.where('action', '<>', COPY_AUDIT_ACTION))
      .executeTakeFirstOrThrow();
    const rows = Number(counted.n);
    if (rows !== hasher.rows) {
      throw new SwarmError(
        'INTERNAL',
        `${table.name}: read ${hasher.rows} rows page by page but COUNT(*) says ${rows} in the same snapshot`,
      );
    }
    result.push({ table: table.name, rows, checksum: hasher.checksum });
  }
  return result;
}

/**
 * Row count and order-independent checksum of every data table (all but `swarm_migrations`),
 * in migration-creation order, from one consistent snapshot. Two databases hold the same data
 * exactly when these lists are equal, whichever dialects they are.
 */
export async function tableChecksums(
  handle: DatabaseHandle,
  options: { batchSize?: number } = {},
): Promise<TableChecksum[]> {
  const batchSize = checkBatchSize(options.batchSize);
  const tables = await readCatalogue(handle);
  return readSnapshot(handle, (db) => checksumTables(db, tables, batchSize));
}
