import { sql, type RawBuilder } from 'kysely';
import type { DialectAdapter, LogicalType } from '../storage/index.js';
import type { Lease } from './types.js';

/**
 * Splits `items` so one statement binding `paramsPerRow` parameters per item stays under the
 * dialect's limit (a few hundred parameters are kept back for the statement's other clauses).
 */
export function chunksFor<T>(dialect: DialectAdapter, items: readonly T[], paramsPerRow: number): T[][] {
  const size = Math.max(1, Math.floor((dialect.maxParameters - 200) / paramsPerRow));
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/**
 * A parameter with an explicit SQL type. Rows of a `VALUES` list have no column types of their
 * own: PostgreSQL would read every parameter as text and then refuse `integer = text`, so each
 * is cast to the dialect's type for its logical kind. Never for timestamps: SQLite's CAST to a
 * NUMERIC-affinity type would turn an ISO string into a number.
 */
export function typed(dialect: DialectAdapter, value: unknown, logical: Exclude<LogicalType, 'timestamp'>) {
  return sql`CAST(${value} AS ${dialect.type(logical)})`;
}

/**
 * A `VALUES` list, parenthesised, for a common table expression named with its columns
 * (`WITH done(id, lease_epoch) AS (VALUES …)`): the one form of an inline table both dialects
 * accept (SQLite has no column aliases on a derived table).
 */
export function valuesList<R>(rows: ReadonlyArray<readonly RawBuilder<unknown>[]>): RawBuilder<R> {
  return sql<R>`(VALUES ${sql.join(rows.map((cells) => sql`(${sql.join(cells)})`))})`;
}

export type InlineColumn = { readonly name: string; readonly type: Exclude<LogicalType, 'timestamp'> };

/**
 * Rows as an inline table for a common table expression named with its columns: the dialect's
 * rowsAsSelect (PostgreSQL one array per column through `unnest`, SQLite one JSON array of rows
 * through `json_each`), which parses and binds in a fraction of the time of thousands of
 * parameters; a VALUES list where that cannot carry the rows.
 */
export function inlineRows<R>(
  dialect: DialectAdapter,
  columns: readonly InlineColumn[],
  rows: readonly R[],
): RawBuilder<R> {
  const records = rows as readonly Record<string, unknown>[];
  const select = dialect.rowsAsSelect(columns, records);
  if (select !== null) return sql<R>`(${select})`;
  return valuesList<R>(records.map((row) => columns.map((c) => typed(dialect, row[c.name] ?? null, c.type))));
}

/** Batches for inlineRows: as many rows as the dialect's parameter limit allows. */
export function inlineChunks<T>(
  dialect: DialectAdapter,
  items: readonly T[],
  columns: readonly InlineColumn[],
): T[][] {
  if (!dialect.capabilities.arrayParameters) return chunksFor(dialect, items, columns.length);
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += 5000) chunks.push(items.slice(i, i + 5000));
  return chunks;
}

/**
 * The leases worker `workerId` names, as `(id, lease_epoch, status, locked_by)` rows to join
 * against `tasks` (see heldUnder): two parameters a lease, the state they expect a literal, the
 * worker one parameter for the batch.
 */
export function leaseRows(
  dialect: DialectAdapter,
  workerId: string,
  leases: readonly Lease[],
): RawBuilder<LeaseRow> {
  const rows = valuesList<{ column1: string; column2: number }>(
    leases.map((lease) => [typed(dialect, lease.id, 'text'), typed(dialect, lease.leaseEpoch, 'integer')]),
  );
  return sql<LeaseRow>`(SELECT v.column1, v.column2, CAST('RUNNING' AS ${dialect.type('text')}), ${typed(dialect, workerId, 'text')} FROM ${rows} AS v)`;
}

export interface LeaseRow {
  id: string;
  lease_epoch: number;
  /** The state a held task is in: RUNNING (see heldUnder). */
  status: 'RUNNING';
  /** The worker holding the leases. */
  locked_by: string;
}

/**
 * The condition that a batch's tasks are found by: their ids, looked up by primary key
 * (PostgreSQL: `id = ANY(…)`; SQLite: `IN` the batch, named `cte`). The planner's estimate of
 * running tasks is as old as the last ANALYZE, often taken with none running; with
 * `status = 'RUNNING'` a condition of its own, PostgreSQL chose to scan every running task
 * (idx_tasks_leases, dead entries included), or to hash the whole table, and SQLite scanned the
 * table. With the ids, the primary key is the way in; heldUnder is the rest of the fence.
 */
export function inBatch(
  dialect: DialectAdapter,
  ids: readonly string[],
  cte: 'done' | 'leases',
): RawBuilder<boolean> {
  return dialect.capabilities.arrayParameters
    ? sql<boolean>`tasks.id = ANY(${ids}::text[])`
    : sql<boolean>`tasks.id IN (SELECT id FROM ${sql.table(cte)})`;
}

/**
 * The fence of a batch joined to its own tasks: each task still in the state and under the
 * epoch its row of the batch names (`tasks.lease_epoch = cte.lease_epoch AND tasks.status =
 * cte.status`), the batch a MATERIALIZED common table expression with a `status` column
 * (RUNNING), so that these are join conditions the planner cannot see through (a heartbeat's
 * worker, too, is a column of its batch: renew.ts). A batch's epochs are often all alike (every
 * task's first lease), and a column alike in every row is bound once; an inlined batch then made
 * `lease_epoch = 1` and the state filters on `tasks`, estimated from statistics taken while no
 * task ran: PostgreSQL expected one task where the batch named 512, and read the whole batch
 * again for each task it found — a nested loop of 262,144 comparisons, 160–280 ms a batch of 512
 * completions, a third of the no-op drain's speed. Opaque, the batch's columns leave `tasks`
 * estimated at the ids' count, and the batch is read once (hashed, merged, or the outer side of
 * the join). Statements naming tasks by id with no batch to join use stillRunning.
 */
export function heldUnder(cte: 'done' | 'leases'): RawBuilder<boolean> {
  return sql<boolean>`tasks.lease_epoch = ${sql.ref(`${cte}.lease_epoch`)} AND tasks.status = ${sql.ref(`${cte}.status`)}`;
}

/**
 * `tasks.status = 'RUNNING'` for a statement that names its tasks by id, with no batch of rows
 * to join them to, as an expression no index of `tasks` answers, so that the ids' primary key is
 * the planner's one way in. As a plain condition, with statistics taken while no task ran (a
 * bulk enqueue's ANALYZE, autovacuum's), PostgreSQL preferred idx_tasks_leases, a walk over
 * every running task, even for a single id (a failure, a sleep, a checkpoint, a release). A
 * batch joined to its tasks uses heldUnder instead: this expression's guessed selectivity would
 * make the planner expect one task, and loop over the batch for each. A statement that looks for
 * running tasks by their lease (reclaim) keeps the plain condition, which is that index's.
 */
export function stillRunning(): RawBuilder<boolean> {
  return sql<boolean>`(tasks.status || '') = 'RUNNING'`;
}

/** The first lease named for each task: a task named twice in one batch is answered once. */
export function uniqueById<T extends { readonly id: string }>(
  items: readonly T[],
): { unique: T[]; duplicates: T[] } {
  const seen = new Set<string>();
  const unique: T[] = [];
  const duplicates: T[] = [];
  for (const item of items) {
    if (seen.has(item.id)) duplicates.push(item);
    else {
      seen.add(item.id);
      unique.push(item);
    }
  }
  return { unique, duplicates };
}
