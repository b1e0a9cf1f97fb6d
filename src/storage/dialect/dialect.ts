import type { Kysely, RawBuilder, Transaction } from 'kysely';

export type DialectName = 'sqlite' | 'postgres';

/**
 * The column kinds Swarm's schema is written in. Each dialect maps them to its own SQL type;
 * the copy tool and the schema comparison read them back from each database's catalogue.
 */
export const LOGICAL_TYPES = [
  'text',
  'integer',
  'bigint',
  'real',
  'boolean',
  'json',
  'timestamp',
  'blob',
] as const;
export type LogicalType = (typeof LOGICAL_TYPES)[number];

/** A row whose foreign key names no row of its parent table (`id`: the child row's id, if known). */
export interface DanglingReference {
  readonly table: string;
  readonly id: string | null;
  readonly column: string | null;
  readonly parent: string | null;
  readonly value: string | null;
}

export interface ColumnInfo {
  readonly name: string;
  readonly type: LogicalType;
  readonly nullable: boolean;
  readonly primaryKey: boolean;
}

/** What a dialect can do that the engine may want to use; the engine asks, never checks the name. */
export interface DialectCapabilities {
  /** `FOR UPDATE SKIP LOCKED` for concurrent claimers. */
  readonly skipLocked: boolean;
  /** LISTEN/NOTIFY wake-ups across processes. */
  readonly listenNotify: boolean;
  /** Several processes on several machines may share the store. */
  readonly multiProcess: boolean;
  /**
   * Array parameters (PostgreSQL): a statement binds one parameter per column whatever its row
   * count, so rows go in large chunks rather than by the parameter limit.
   */
  readonly arrayParameters: boolean;
  /**
   * INSERT/UPDATE inside WITH, and `newIdSql` (PostgreSQL): a claim and its bookkeeping in one
   * statement, one round trip instead of a transaction of four.
   */
  readonly writingCtes: boolean;
}

/**
 * Everything that differs between SQLite and PostgreSQL lives behind this interface:
 * column types, defaults, locking, and catalogue reads. Nothing outside `storage/dialect/`
 * imports a concrete dialect.
 */
export interface DialectAdapter {
  readonly name: DialectName;
  readonly capabilities: DialectCapabilities;
  /** The SQL type of each logical column type. */
  type(logical: LogicalType): RawBuilder<unknown>;
  /** Default of "now" for a timestamp column, in Swarm's canonical form. */
  readonly nowDefault: RawBuilder<unknown>;
  /** A constant JSON default such as `{}` or `[]`. */
  jsonDefault(value: unknown): RawBuilder<unknown>;
  boolDefault(value: boolean): RawBuilder<unknown>;
  /**
   * Runs `fn` in a transaction that holds the write lock from its first statement
   * (SQLite `BEGIN IMMEDIATE`, so a read-then-write never fails on a stale snapshot). On
   * PostgreSQL a transaction rolled back by a deadlock or serialization failure is run again
   * (up to 3 times), so `fn` must do nothing but database work.
   */
  writeTransaction<DB, T>(db: Kysely<DB>, fn: (trx: Kysely<DB>) => Promise<T>): Promise<T>;
  /** Whether `db` runs its statements in a transaction (a Kysely one, or writeTransaction's). */
  inTransaction(db: Kysely<unknown>): boolean;
  /**
   * Runs `fn` on one consistent read-only snapshot: every query in it sees the same committed
   * state while others write (PostgreSQL REPEATABLE READ; SQLite a WAL read transaction).
   */
  readTransaction<DB, T>(db: Kysely<DB>, fn: (trx: Kysely<DB>) => Promise<T>): Promise<T>;
  /** Most bound parameters one statement may carry. */
  readonly maxParameters: number;
  /**
   * A fresh id of the form `newId()` makes (UUIDv7 text), computed by the database once per row,
   * where it can (PostgreSQL); null otherwise.
   */
  newIdSql(): RawBuilder<string> | null;
  /**
   * Many rows as one `SELECT`, for `INSERT … SELECT` and inline tables, binding a few parameters
   * whatever the row count: PostgreSQL one array per column (`unnest($1::text[], …)`), SQLite
   * one JSON array of rows (`json_each`); a column holding the same value in every row binds
   * that value once. Parsing and binding those is far cheaper than a VALUES list of thousands
   * of parameters. Null when the rows cannot go that way (SQLite: a blob); the caller then
   * writes multi-row VALUES.
   */
  rowsAsSelect(
    columns: readonly { readonly name: string; readonly type: LogicalType }[],
    rows: readonly Record<string, unknown>[],
  ): RawBuilder<unknown> | null;
  /**
   * A condition: the JSON array in `column` contains the string `value` (SQLite json_each;
   * PostgreSQL `@>`, which the GIN indexes serve).
   */
  jsonArrayContains(column: string, value: string): RawBuilder<boolean>;
  /**
   * The size in bytes of the JSON stored in `column`, known without reading the value itself
   * (PostgreSQL `pg_column_size`, as stored, maybe compressed; SQLite `octet_length`).
   */
  jsonStoredBytes(column: string): RawBuilder<number>;
  /**
   * Notifies `channel` with `payload` when the transaction commits (PostgreSQL NOTIFY; SQLite
   * signals its own process's listeners once the current turn ends).
   */
  notify(db: Kysely<unknown>, channel: string, payload?: string): Promise<void>;
  /**
   * Refreshes the planner's statistics of `table` after a bulk write in the caller's
   * transaction (they commit with it). PostgreSQL `ANALYZE`: autovacuum would get there in a
   * minute or so, and until then a planner that believes `tasks` small sorts a million rows
   * for every claim. A no-op on SQLite, whose planner keeps no statistics unless asked.
   */
  analyze(trx: Kysely<unknown>, table: string): Promise<void>;
  /** Serialises schema migrations across processes for the rest of the transaction. */
  lockForMigration(trx: Kysely<unknown> | Transaction<unknown>): Promise<void>;
  /** Postpones foreign-key checks to commit, so a bulk copy may insert in any order. */
  deferForeignKeys(trx: Kysely<unknown>): Promise<void>;
  /**
   * Runs the checks `deferForeignKeys` postponed, before the commit that would otherwise fail on
   * them with the bare driver error: the rows naming no parent (at most `limit`; PostgreSQL stops
   * at the first). After a non-empty answer the transaction is only good for a rollback.
   */
  checkDeferredForeignKeys(trx: Kysely<unknown>, limit: number): Promise<DanglingReference[]>;
  /**
   * The reference a failed statement's error names as missing (PostgreSQL: a foreign-key
   * violation, from a key or a reference trigger), without the child row's id; null for any
   * other error, and always on SQLite, whose errors name none.
   */
  foreignKeyViolation(error: unknown): DanglingReference | null;
  listTables(db: Kysely<unknown>): Promise<string[]>;
  listColumns(db: Kysely<unknown>, table: string): Promise<ColumnInfo[]>;
}
