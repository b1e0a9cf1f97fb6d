import pg from 'pg';
import { Kysely, PostgresDialect, sql, type RawBuilder } from 'kysely';
import type { ColumnInfo, DanglingReference, DialectAdapter, LogicalType } from './dialect.js';
import { sameInEveryRow } from './columns.js';
import { SwarmError } from '../../errors/index.js';

const PG_TYPES: Record<LogicalType, string> = {
  text: 'text',
  integer: 'integer',
  bigint: 'bigint',
  real: 'double precision',
  boolean: 'boolean',
  json: 'jsonb',
  // Millisecond precision: the same instants SQLite's ISO strings and JavaScript's Date hold,
  // so a copy either way loses nothing.
  timestamp: 'timestamptz(3)',
  blob: 'bytea',
};
const FROM_PG_TYPE: Record<string, LogicalType> = {
  text: 'text',
  integer: 'integer',
  bigint: 'bigint',
  'double precision': 'real',
  boolean: 'boolean',
  jsonb: 'json',
  'timestamp with time zone': 'timestamp',
  bytea: 'blob',
};

const OID = { int8: 20, json: 114, jsonb: 3802, timestamptz: 1184 } as const;
/** A timestamptz as PostgreSQL prints it in UTC with datestyle ISO, to at most milliseconds. */
const UTC_TIMESTAMP = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,3}))?\+00$/;

/**
 * Values cross the storage boundary in the same shape on both dialects: JSON as text (the
 * storage layer parses it), timestamps as ISO-8601 UTC strings, bigints as numbers.
 */
const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
    if (oid === OID.json || oid === OID.jsonb) return (value) => value;
    if (oid === OID.timestamptz) {
      const parseDate = pg.types.getTypeParser(OID.timestamptz) as (value: string) => Date;
      return (value) => {
        // The session's zone is UTC (openPostgres): a millisecond timestamp is rewritten as ISO
        // text directly, 10× cheaper than through a Date, and a claim reads several per task.
        const utc = UTC_TIMESTAMP.exec(value);
        if (utc !== null) return `${utc[1]}T${utc[2]}.${(utc[3] ?? '').padEnd(3, '0')}Z`;
        // Anything else (finer fractions, 'infinity', which parses to a number) the long way.
        const date = parseDate(value);
        return date instanceof Date ? date.toISOString() : value;
      };
    }
    if (oid === OID.int8) {
      return (value) => {
        const n = Number(value);
        return Number.isSafeInteger(n) ? n : value;
      };
    }
    return pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown;
  },
};

export interface PostgresOptions {
  readonly connectionString: string;
  /** @default 10 */
  readonly poolSize: number;
}

export function openPostgres<DB>(options: PostgresOptions): { db: Kysely<DB>; pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize,
    types: typeParsers,
    connectionTimeoutMillis: 10_000,
    // Output settings a server may have changed: timestamps in the ISO form, in UTC, the parser reads,
    // doubles printed with every digit (the default only since PostgreSQL 12).
    options: '-c datestyle=ISO,YMD -c extra_float_digits=3 -c timezone=UTC',
  });
  // An idle client's error (server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  // Nor a checked-out client's: the pool only listens while a client is idle, and a connection
  // cut between two statements of a transaction (or under a LISTEN) is emitted as 'error' on the
  // client — unhandled, it killed every Swarm process on a PostgreSQL restart. The client is then
  // unqueryable: its next query fails (the caller's error path), and the pool discards it on release.
  pool.on('connect', (client) => client.on('error', () => {}));
  return { db: new Kysely<DB>({ dialect: new PostgresDialect({ pool }) }), pool };
}

/** SQLSTATE foreign_key_violation. */
const FOREIGN_KEY_VIOLATION = '23503';

/** The reference a PostgreSQL error names as missing: a foreign_key_violation's table and detail. */
function foreignKeyViolationOf(error: unknown): DanglingReference | null {
  const { code, table, detail } = (error ?? {}) as { code?: unknown; table?: unknown; detail?: unknown };
  if (code !== FOREIGN_KEY_VIOLATION || typeof table !== 'string') return null;
  // The first missing key only: `Key (run_id)=(…) is not present in table "…".`
  const key = /^Key \(([^)]+)\)=\((.*)\) is not present in table "(.+)"\.$/s.exec(String(detail ?? ''));
  return { table, id: null, column: key?.[1] ?? null, value: key?.[2] ?? null, parent: key?.[3] ?? null };
}

// Any constant works; it only has to be the same in every Swarm process.
const MIGRATION_LOCK_KEY = 0x5357_4152; // "SWAR"

export const postgresAdapter: DialectAdapter = {
  name: 'postgres',
  capabilities: {
    skipLocked: true,
    listenNotify: true,
    multiProcess: true,
    arrayParameters: true,
    writingCtes: true,
  },
  type: (logical) => sql.raw(PG_TYPES[logical]),
  nowDefault: sql`now()`,
  jsonDefault: (value) => sql.raw(`'${JSON.stringify(value).replaceAll("'", "''")}'::jsonb`),
  boolDefault: (value) => sql.raw(value ? 'true' : 'false'),

  async writeTransaction(db, fn) {
    // A deadlock or serialization failure rolls the whole transaction back: PostgreSQL picked it
    // to give way to another, and the same work sent again succeeds. Retried here, once for every
    // write, rather than surfacing as a 500 from whichever request happened to lose.
    for (let attempt = 1; ; attempt++) {
      try {
        return await db.transaction().execute((trx) => fn(trx));
      } catch (error) {
        if (attempt >= WRITE_ATTEMPTS || !isConflict(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 5 * attempt + Math.random() * 10));
      }
    }
  },

  inTransaction: (db) => db.isTransaction,

  async readTransaction(db, fn) {
    return db
      .transaction()
      .setIsolationLevel('repeatable read')
      .setAccessMode('read only')
      .execute((trx) => fn(trx));
  },

  // RFC 9562 UUIDv7 from PostgreSQL 13+ builtins (uuidv7() itself arrives in 18): the
  // millisecond clock over the first 48 bits of a random v4, version bits turned from 0100 to 0111.
  newIdSql: () =>
    sql<string>`encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3) from 1 for 6), 52, 1), 53, 1), 'hex')::uuid::text`,

  // The wire protocol's limit (a 16-bit count).
  maxParameters: 65_535,
  rowsAsSelect(columns, rows) {
    // Arrays of timestamps take the plain type: a typmod is no part of an array type's name.
    const typeOf = (type: LogicalType) => sql.raw(type === 'timestamp' ? 'timestamptz' : PG_TYPES[type]);
    // A column holding the same value in every row binds it once, not as an array of copies:
    // Node escapes, and PostgreSQL parses, every element of an array. A bulk enqueue's rows
    // differ in their id and input only; 1,000 of them insert in about 30% less time.
    const varying = columns.map((c) => !sameInEveryRow(rows, c.name));
    // With no varying column, one array is still unnested: it gives the statement its row count.
    if (!varying.includes(true)) varying[0] = true;
    const arrays: RawBuilder<unknown>[] = [];
    const cells = columns.map((c, i) => {
      if (!varying[i]) return sql`${rows[0]?.[c.name] ?? null}::${typeOf(c.type)}`;
      arrays.push(sql`${rows.map((row) => row[c.name] ?? null)}::${typeOf(c.type)}[]`);
      return sql.raw(`u.c${arrays.length}`);
    });
    const names = sql.raw(arrays.map((_, i) => `c${i + 1}`).join(', '));
    return sql`SELECT ${sql.join(cells)} FROM unnest(${sql.join(arrays)}) AS u(${names})`;
  },

  jsonArrayContains: (column, value) => sql<boolean>`${sql.ref(column)} @> jsonb_build_array(${value}::text)`,

  jsonStoredBytes: (column) => sql<number>`pg_column_size(${sql.ref(column)})`,

  async analyze(trx, table) {
    // Rows this transaction inserted are sampled as live: the statistics are right at commit.
    await sql`ANALYZE ${sql.table(table)}`.execute(trx);
  },

  async notify(db, channel, payload = '') {
    // Delivered at commit, so a listener never wakes before the rows it is told about exist.
    await sql`SELECT pg_notify(${channel}, ${payload})`.execute(db);
  },

  async lockForMigration(trx) {
    await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`.execute(trx as Kysely<unknown>);
  },

  async deferForeignKeys(trx) {
    // Every foreign key is DEFERRABLE (see migrations/ddl.ts), so this reaches all of them.
    await sql`SET CONSTRAINTS ALL DEFERRED`.execute(trx);
  },

  async checkDeferredForeignKeys(trx, limit) {
    // In a savepoint, so that after the first violation the child rows can still be looked up.
    await sql`SAVEPOINT swarm_deferred_keys`.execute(trx);
    let missing: DanglingReference | null;
    try {
      await sql`SET CONSTRAINTS ALL IMMEDIATE`.execute(trx);
      await sql`RELEASE SAVEPOINT swarm_deferred_keys`.execute(trx);
      return [];
    } catch (caught) {
      missing = foreignKeyViolationOf(caught);
      if (missing === null) throw caught;
    }
    await sql`ROLLBACK TO SAVEPOINT swarm_deferred_keys`.execute(trx);
    if (missing.column === null) return [missing];
    const children = await sql<{ id: string }>`
      SELECT id FROM ${sql.table(missing.table)} WHERE ${sql.ref(missing.column)}::text = ${missing.value}
      ORDER BY id LIMIT ${limit}`.execute(trx);
    return children.rows.length === 0 ? [missing] : children.rows.map(({ id }) => ({ ...missing, id }));
  },

  foreignKeyViolation: foreignKeyViolationOf,

  async listTables(db) {
    const result = await sql<{ table_name: string }>`
      SELECT table_name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
      ORDER BY table_name`.execute(db);
    return result.rows.map((row) => row.table_name);
  },

  async listColumns(db, table) {
    const result = await sql<{ column_name: string; data_type: string; is_nullable: string; pk: boolean }>`
      SELECT c.column_name, c.data_type, c.is_nullable,
        EXISTS (
          SELECT 1 FROM information_schema.table_constraints tc
          JOIN information_schema.key_column_usage k
            ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema
          WHERE tc.table_schema = c.table_schema AND tc.table_name = c.table_name
            AND tc.constraint_type = 'PRIMARY KEY' AND k.column_name = c.column_name
        ) AS pk
      FROM information_schema.columns c
      WHERE c.table_schema = current_schema() AND c.table_name = ${table}
      ORDER BY c.ordinal_position`.execute(db);
    return result.rows.map((row): ColumnInfo => {
      const type = FROM_PG_TYPE[row.data_type];
      if (type === undefined)
        throw new SwarmError('INTERNAL', `${table}.${row.column_name}: unknown type ${row.data_type}`);
      return { name: row.column_name, type, nullable: row.is_nullable === 'YES', primaryKey: row.pk };
    });
  },
};

/** How many times a write transaction is tried when PostgreSQL rolls it back for a conflict. */
const WRITE_ATTEMPTS = 3;

/** 40P01 deadlock_detected, 40001 serialization_failure: the transaction was chosen to give way. */
function isConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}
