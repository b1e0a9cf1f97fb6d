import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, sql, type RawBuilder } from 'kysely';
import { SwarmError } from '../../errors/index.js';
import type { ColumnInfo, DanglingReference, DialectAdapter, LogicalType } from './dialect.js';
import { sameInEveryRow } from './columns.js';

/**
 * In-process wake-ups: one process owns a SQLite file, so a NOTIFY is an event in this process.
 * Handles of other files in the same process hear it too; for them it is one needless look at
 * an empty queue, never a lost task.
 */
export const inProcessSignals = new EventEmitter().setMaxListeners(0);

/**
 * SQLite declared types. They are chosen for their affinity as much as their name:
 * `JSON_TEXT` has TEXT affinity (so SQLite never turns the JSON text `123` into a number),
 * `TIMESTAMPTZ` and `BOOLEAN` have NUMERIC affinity (ISO strings stay text, booleans are 0/1).
 * The names let the catalogue tell the logical type back.
 */
const SQLITE_TYPES: Record<LogicalType, string> = {
  text: 'TEXT',
  integer: 'INTEGER',
  bigint: 'BIGINT',
  real: 'REAL',
  boolean: 'BOOLEAN',
  json: 'JSON_TEXT',
  timestamp: 'TIMESTAMPTZ',
  blob: 'BLOB',
};
const FROM_SQLITE_TYPE = new Map(
  Object.entries(SQLITE_TYPES).map(([logical, declared]) => [declared, logical]),
);

export type SqliteSynchronous = 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';

export interface SqliteOptions {
  readonly file: string;
  /** @default FULL — a committed transaction survives power loss, not only a crash. */
  readonly synchronous: SqliteSynchronous;
  /** @default 5000 */
  readonly busyTimeoutMs: number;
  readonly readonly?: boolean;
}

export function openSqlite<DB>(options: SqliteOptions): Kysely<DB> {
  if (options.file !== ':memory:' && !options.readonly) createPrivately(options.file);
  let database: Database.Database;
  try {
    database = new Database(options.file, {
      readonly: options.readonly ?? false,
      fileMustExist: options.readonly ?? false,
      timeout: options.busyTimeoutMs,
    });
    if (!options.readonly) database.pragma('journal_mode = WAL');
    database.pragma(`synchronous = ${options.synchronous}`);
    database.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
    database.pragma('foreign_keys = ON');
  } catch (error) {
    throw new SwarmError(
      'DB_UNREACHABLE',
      `cannot open SQLite database ${options.file}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return new Kysely<DB>({ dialect: new SqliteDialect({ database }) });
}

/**
 * The database holds every run's data: its folder is made 0700 and the file 0600 before SQLite
 * opens it, so it is never readable by others, not even for a moment (a chmod after would leave
 * a window). SQLite gives `-wal`, `-shm` and `-journal` the mode of the database file. An
 * existing folder or file keeps the mode its owner gave it.
 */
function createPrivately(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // O_CREAT without O_TRUNC or O_EXCL: creates the file if missing, leaves an existing one alone.
  fs.closeSync(fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_RDWR, 0o600));
}

/** The connections writeTransaction runs `BEGIN IMMEDIATE` on: Kysely sees no transaction. */
const writeConnections = new WeakSet<object>();

export const sqliteAdapter: DialectAdapter = {
  name: 'sqlite',
  capabilities: {
    skipLocked: false,
    listenNotify: false,
    multiProcess: false,
    arrayParameters: false,
    writingCtes: false,
  },
  type: (logical) => sql.raw(SQLITE_TYPES[logical]),
  nowDefault: sql`(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`,
  jsonDefault: (value) => sql.raw(`'${JSON.stringify(value).replaceAll("'", "''")}'`),
  boolDefault: (value) => sql.raw(value ? '1' : '0'),

  async writeTransaction(db, fn) {
    // Kysely's SQLite driver keeps one connection, so this also queues other writers in-process.
    return db.connection().execute(async (conn) => {
      await sql`BEGIN IMMEDIATE`.execute(conn);
      writeConnections.add(conn);
      try {
        const result = await fn(conn);
        await sql`COMMIT`.execute(conn);
        return result;
      } catch (error) {
        // SQLite may have rolled back already (e.g. SQLITE_FULL); keep the original error.
        await sql`ROLLBACK`.execute(conn).catch(() => {});
        throw error;
      } finally {
        writeConnections.delete(conn);
      }
    });
  },

  inTransaction: (db) => db.isTransaction || writeConnections.has(db),

  async readTransaction(db, fn) {
    // A deferred transaction's snapshot starts at its first read and holds to the end.
    return db.transaction().execute((trx) => fn(trx));
  },

  // SQLITE_MAX_VARIABLE_NUMBER in the SQLite better-sqlite3 bundles.
  maxParameters: 32_766,
  newIdSql: () => null,

  rowsAsSelect(columns, rows) {
    // One JSON parameter, an array of each row's varying values, read back with json_each: a
    // statement of a few dozen characters instead of a VALUES list of thousands of parameters,
    // which Kysely built, SQLite compiled and better-sqlite3 bound one by one (a bulk enqueue's
    // statement bound 26,000). A column holding the same value in every row binds it once.
    // Buffers (and bigints) have no JSON form: such rows go as VALUES.
    if (columns.some((c) => c.type === 'blob')) return null;
    const varying = columns.map((c) => !sameInEveryRow(rows, c.name));
    // With no varying column, one is still read per row: it gives the statement its row count.
    if (!varying.includes(true)) varying[0] = true;
    const names = columns.filter((_, i) => varying[i]).map((c) => c.name);
    const values: unknown[][] = [];
    for (const row of rows) {
      const cells = names.map((name) => row[name] ?? null);
      if (cells.some((cell) => typeof cell === 'bigint' || cell instanceof Uint8Array)) return null;
      values.push(cells);
    }
    let read = 0;
    const cells = columns.map((c, i) =>
      typedCell(varying[i] ? sql.raw(`j.value ->> ${read++}`) : sql`${rows[0]?.[c.name] ?? null}`, c.type),
    );
    // WHERE true: without it, an `INSERT … SELECT … FROM j ON CONFLICT` is ambiguous to SQLite.
    return sql`SELECT ${sql.join(cells)} FROM json_each(${JSON.stringify(values)}) AS j WHERE true ORDER BY j.key`;
  },

  jsonStoredBytes: (column) => sql<number>`octet_length(${sql.ref(column)})`,

  jsonArrayContains: (column, value) =>
    sql<boolean>`EXISTS (SELECT 1 FROM json_each(${sql.ref(column)}) WHERE json_each.value = ${value})`,

  async analyze() {
    // Without sqlite_stat1 the planner goes by the schema's indexes, which suits the queue.
  },

  async notify(_db, channel, payload = '') {
    // After the current turn: the notifying transaction has committed by then (one connection,
    // so a woken claimer queues behind it in any case).
    setImmediate(() => inProcessSignals.emit(channel, payload));
  },

  async lockForMigration() {
    // BEGIN IMMEDIATE (writeTransaction) already holds the database's single write lock.
  },

  async deferForeignKeys(trx) {
    await sql`PRAGMA defer_foreign_keys = ON`.execute(trx);
  },

  async checkDeferredForeignKeys(trx, limit) {
    // SQLite counts deferred violations but names none at COMMIT; this pass over the references
    // names them (rowid: the child row; fkid: which of its table's keys).
    const found = await sql<{ table: string; rowid: number | null; parent: string; fkid: number }>`
      SELECT "table", rowid, parent, fkid FROM pragma_foreign_key_check LIMIT ${limit}`.execute(trx);
    const dangling: DanglingReference[] = [];
    for (const row of found.rows) {
      const key = await sql<{ from: string }>`
        SELECT "from" FROM pragma_foreign_key_list(${row.table}) WHERE id = ${row.fkid} ORDER BY seq LIMIT 1`.execute(
        trx,
      );
      const column = key.rows[0]?.from ?? null;
      const child =
        column === null || row.rowid === null
          ? undefined
          : (
              await sql<{ id: string | null; value: unknown }>`
                SELECT id, ${sql.ref(column)} AS value FROM ${sql.table(row.table)} WHERE rowid = ${row.rowid}`.execute(
                trx,
              )
            ).rows[0];
      dangling.push({
        table: row.table,
        id: child?.id ?? null,
        column,
        parent: row.parent,
        value: child?.value === undefined || child.value === null ? null : String(child.value),
      });
    }
    return dangling;
  },

  foreignKeyViolation() {
    return null;
  },

  async listTables(db) {
    const result = await sql<{ name: string }>`
      SELECT name FROM sqlite_master
      WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
      ORDER BY name`.execute(db);
    return result.rows.map((row) => row.name);
  },

  async listColumns(db, table) {
    const result = await sql<{ name: string; type: string; notnull: number; pk: number }>`
      SELECT name, type, "notnull", pk FROM pragma_table_info(${table}) ORDER BY cid`.execute(db);
    return result.rows.map((row): ColumnInfo => {
      const type = FROM_SQLITE_TYPE.get(row.type.toUpperCase());
      if (type === undefined)
        throw new SwarmError('INTERNAL', `${table}.${row.name}: unknown SQLite type ${row.type}`);
      return {
        name: row.name,
        type: type as LogicalType,
        nullable: row.notnull === 0 && row.pk === 0,
        primaryKey: row.pk > 0,
      };
    });
  },
};

/**
 * A cell of rowsAsSelect with its column's type, as the VALUES path casts a parameter
 * (src/queue/batch.ts `typed`): a common table expression's columns have no type of their own.
 * Never a timestamp: a CAST to its NUMERIC affinity would turn an ISO string into a number.
 */
function typedCell(cell: RawBuilder<unknown>, logical: LogicalType): RawBuilder<unknown> {
  return logical === 'timestamp' ? cell : sql`CAST(${cell} AS ${sql.raw(SQLITE_TYPES[logical])})`;
}
