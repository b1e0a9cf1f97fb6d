import fs from 'node:fs';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { copyDatabase, tableChecksums, type TableChecksum } from '../../src/datamove/index.js';
import { SwarmError } from '../../src/errors/index.js';
import {
  MIGRATIONS,
  migrate,
  newId,
  openDatabase,
  fromDbBool,
  type DatabaseHandle,
} from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase, type TestDialect } from '../helpers/databases.js';
import { ALL_BYTES, BIG_INT, bigJson, UNICODE, writeFixture, type FixtureResult } from './fixture.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fresh(dialect: TestDialect): Promise<TestDatabase> {
  const db = await createTestDatabase(dialect, { empty: true });
  cleanups.push(() => db.drop());
  return db;
}

async function withHandle<T>(url: string, fn: (handle: DatabaseHandle) => Promise<T>): Promise<T> {
  const handle = await openDatabase(url);
  try {
    return await fn(handle);
  } finally {
    await handle.close();
  }
}

/** A migrated database holding the fixture (plus `bulk` extra rows per table). */
async function seeded(
  dialect: TestDialect,
  bulk: Record<string, number> = {},
): Promise<{ db: TestDatabase; fixture: FixtureResult }> {
  const db = await fresh(dialect);
  const fixture = await withHandle(db.url, async (handle) => {
    await migrate(handle);
    return writeFixture(handle, { bulk });
  });
  return { db, fixture };
}

const asUnknown = (handle: DatabaseHandle) => handle.db as unknown as Kysely<unknown>;

async function dataTables(handle: DatabaseHandle): Promise<string[]> {
  return (await handle.dialect.listTables(asUnknown(handle))).filter((t) => t !== 'swarm_migrations');
}

/**
 * Every row of every data table in a dialect-neutral shape, sorted by id (in JS, not by a
 * collation): JSON parsed, booleans as booleans, blobs as base64. Deliberately independent of
 * the checksum code under test.
 */
async function normalisedRows(url: string): Promise<Record<string, Record<string, unknown>[]>> {
  return withHandle(url, async (handle) => {
    const result: Record<string, Record<string, unknown>[]> = {};
    for (const table of await dataTables(handle)) {
      const columns = await handle.dialect.listColumns(asUnknown(handle), table);
      const rows = await (handle.db as unknown as Kysely<Record<string, Record<string, unknown>>>)
        .selectFrom(table)
        .selectAll()
        .execute();
      result[table] = rows
        // The copy's own audit row is in the target only (checked on its own below).
        .filter((row) => table !== 'audit_logs' || row.action !== 'database.copy')
        .map((row) => {
          const out: Record<string, unknown> = {};
          for (const c of columns) {
            const value = row[c.name];
            if (value === null) out[c.name] = null;
            else if (c.type === 'json') out[c.name] = JSON.parse(value as string);
            else if (c.type === 'boolean') out[c.name] = fromDbBool(value as number | boolean);
            else if (c.type === 'blob') out[c.name] = (value as Buffer).toString('base64');
            else out[c.name] = value;
          }
          return out;
        })
        .sort((a, b) => (String(a.id) < String(b.id) ? -1 : String(a.id) > String(b.id) ? 1 : 0));
    }
    return result;
  });
}

async function checksums(url: string): Promise<TableChecksum[]> {
  return withHandle(url, (handle) => tableChecksums(handle));
}

async function rowCounts(url: string): Promise<Record<string, number>> {
  return Object.fromEntries((await checksums(url)).map((t) => [t.table, t.rows]));
}

async function failure(promise: Promise<unknown>): Promise<SwarmError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SwarmError);
  return error as SwarmError;
}

describe('copyDatabase sqlite → sqlite', () => {
  it('writes fixture rows to every table of the schema, so no table escapes the copy tests', async () => {
    const { db, fixture } = await seeded('sqlite');
    const tables = await withHandle(db.url, dataTables);
    expect([...fixture.tables].sort()).toEqual([...tables].sort());
    const counts = await rowCounts(db.url);
    for (const table of tables) expect(counts[table], table).toBeGreaterThanOrEqual(2);
  });

  it('copies every row of every table and proves it with counts and checksums', async () => {
    const { db: source, fixture } = await seeded('sqlite', { tasks: 700, execution_logs: 1500 });
    const target = await fresh('sqlite');
    const before = await checksums(source.url);
    const progress: Array<[string, number]> = [];

    const report = await copyDatabase({
      from: source.url,
      to: target.url,
      onProgress: (table, rows) => progress.push([table, rows]),
    });

    const tables = await withHandle(source.url, dataTables);
    expect(report.tables.map((t) => t.table).sort()).toEqual([...tables].sort());
    // Parents before children: the migrations' creation order, not the catalogue's alphabet.
    expect(report.tables[0]!.table).toBe('users');
    expect(report.tables.findIndex((t) => t.table === 'agents')).toBeLessThan(
      report.tables.findIndex((t) => t.table === 'agent_capabilities'),
    );
    expect(report.tables.every((t) => t.match)).toBe(true);
    const expectedTotal = Object.values(fixture.rows).reduce((a, b) => a + b, 0);
    expect(report.totalRows).toBe(expectedTotal);
    expect(report.from).toBe(`sqlite:${path.join(source.dir, 'swarm.db')}`);
    expect(report.to).toBe(`sqlite:${path.join(target.dir, 'swarm.db')}`);
    expect(report.durationMs).toBeGreaterThanOrEqual(0);
    for (const t of report.tables) {
      expect(t.sourceRows, t.table).toBe(fixture.rows[t.table]);
      expect(t.targetRows, t.table).toBe(t.sourceRows);
      expect(t.targetChecksum, t.table).toBe(t.sourceChecksum);
      expect(t.sourceChecksum).toMatch(/^[0-9a-f]{64}$/);
    }

    const after = await checksums(target.url);
    expect(after).toEqual(before);
    expect(await checksums(source.url)).toEqual(before);
    expect(await normalisedRows(target.url)).toEqual(await normalisedRows(source.url));
    // One audit row says where the target's data came from, written in the copy's transaction.
    const copies = await withHandle(target.url, (handle) =>
      handle.db.selectFrom('audit_logs').selectAll().where('action', '=', 'database.copy').execute(),
    );
    expect(copies).toHaveLength(1);
    expect(copies[0]).toMatchObject({ actor_id: null, resource_type: 'database', resource_id: report.to });
    expect(JSON.parse(copies[0]!.extra_metadata)).toMatchObject({ from: report.from, to: report.to });

    // Progress: cumulative per table, several batches for the bulk tables, ending at the total.
    for (const t of report.tables) {
      const seen = progress.filter(([table]) => table === t.table).map(([, rows]) => rows);
      expect(seen.at(-1), t.table).toBe(t.sourceRows);
      expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    }
    expect(progress.filter(([table]) => table === 'execution_logs').length).toBeGreaterThan(1);

    // The target is migrated: its ledger is its own, not copied.
    const status = await withHandle(target.url, (h) =>
      (h.db as unknown as Kysely<Record<string, { version: number }>>)
        .selectFrom('swarm_migrations')
        .select('version')
        .execute(),
    );
    expect(status.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('pages through tables with a tiny batch size and still copies everything', async () => {
    const { db: source } = await seeded('sqlite', { execution_logs: 25 });
    const target = await fresh('sqlite');
    const report = await copyDatabase({ from: source.url, to: target.url, batchSize: 3 });
    expect(report.tables.every((t) => t.match)).toBe(true);
    expect(await normalisedRows(target.url)).toEqual(await normalisedRows(source.url));
  });

  it('refuses an integer beyond 2^53 rather than copying it rounded', async () => {
    const { db: source } = await seeded('sqlite');
    // A literal in SQL: SQLite stores it exactly, but reads it back as a rounded JS number.
    await withHandle(source.url, (h) =>
      sql`UPDATE tasks SET duration_ms = 9007199254740993 WHERE duration_ms IS NOT NULL`.execute(h.db),
    );
    const target = await fresh('sqlite');
    const error = await failure(copyDatabase({ from: source.url, to: target.url }));
    expect(error.code).toBe('COPY_FAILED');
    expect(error.message).toMatch(/^tasks\.duration_ms of row .* beyond 2\^53/);
    expect(error.message).toContain('nothing was written');
    expect(Object.values(await rowCounts(target.url)).every((n) => n === 0)).toBe(true);
  });

  it('refuses an unmigrated source, naming it and the command to run, and writes to neither side', async () => {
    const source = await fresh('sqlite');
    await withHandle(source.url, async () => {}); // an empty SQLite file
    const target = await fresh('sqlite');
    const error = await failure(copyDatabase({ from: source.url, to: target.url }));
    expect(error.code).toBe('SCHEMA_OUTDATED');
    expect(error.message).toContain(`copy source sqlite:${path.join(source.dir, 'swarm.db')}`);
    expect(error.message).toContain(`at schema version 0, not ${MIGRATIONS.at(-1)!.version}`);
    expect(error.message).toContain('swarm db migrate --database-url');
    expect(await withHandle(source.url, dataTables)).toEqual([]);
    expect(await withHandle(source.url, (h) => h.dialect.listTables(asUnknown(h)))).toEqual([]);
    expect(fs.existsSync(path.join(target.dir, 'swarm.db'))).toBe(false);
  });

  it('refuses a partly migrated source', async () => {
    const source = await fresh('sqlite');
    await withHandle(source.url, (h) => migrate(h, MIGRATIONS.slice(0, 2)));
    const target = await fresh('sqlite');
    const error = await failure(copyDatabase({ from: source.url, to: target.url }));
    expect(error.code).toBe('SCHEMA_OUTDATED');
    expect(error.message).toContain(`at schema version 2, not ${MIGRATIONS.at(-1)!.version}`);
  });

  it('refuses a source file that does not exist instead of creating it', async () => {
    const target = await fresh('sqlite');
    const missing = path.join(target.dir, 'nope', 'missing.db');
    const error = await failure(copyDatabase({ from: `sqlite:${missing}`, to: target.url }));
    expect(error.code).toBe('DB_UNREACHABLE');
    expect(error.message).toContain(missing);
    expect(fs.existsSync(missing)).toBe(false);
  });

  it('refuses copying a database onto itself, however the path is spelled', async () => {
    const { db: source } = await seeded('sqlite');
    const before = await checksums(source.url);
    const file = path.join(source.dir, 'swarm.db');
    const link = path.join(source.dir, 'alias.db');
    fs.symlinkSync(file, link);
    for (const to of [source.url, file, `file:${file}`, `sqlite:${link}`]) {
      const error = await failure(copyDatabase({ from: source.url, to, overwrite: true }));
      expect(error.code, to).toBe('INPUT_INVALID');
      expect(error.message, to).toMatch(/^to: .* is the same database as the source sqlite:/);
    }
    expect(await checksums(source.url)).toEqual(before);
  });

  it('rejects bad URLs and options before opening anything', async () => {
    const target = await fresh('sqlite');
    for (const [from, to] of [
      ['mysql://x', target.url],
      [target.url, 'mysql://x'],
    ] as const) {
      const error = await failure(copyDatabase({ from, to }));
      expect(error.code).toBe('DB_URL_INVALID');
      expect(error.message).toContain('unsupported database URL scheme "mysql:"');
    }
    expect(fs.existsSync(path.join(target.dir, 'swarm.db'))).toBe(false);
    const error = await failure(copyDatabase({ from: target.url, to: 'sqlite:other.db', batchSize: 0 }));
    expect(error.code).toBe('INPUT_INVALID');
    expect(error.message).toMatch(/^batchSize: must be a positive integer/);
  });
});

describe.each(DIALECTS)('copyDatabase into %s', (dialect) => {
  it('refuses a non-empty target without writing to it, and replaces its rows with overwrite', async () => {
    const { db: source } = await seeded('sqlite');
    const target = await fresh(dialect);
    const strangerId = newId();
    await withHandle(target.url, async (h) => {
      await migrate(h);
      await h.db
        .insertInto('users')
        .values({ id: strangerId, name: 'stranger', email: 'stranger@example.com' } as never)
        .execute();
    });
    const before = await checksums(target.url);

    const error = await failure(copyDatabase({ from: source.url, to: target.url }));
    expect(error.code).toBe('COPY_TARGET_NOT_EMPTY');
    expect(error.message).toContain('already has rows in users (1 row)');
    expect(error.message).not.toContain('agents');
    expect(error.message).toContain('--overwrite');
    expect(error.context).toEqual({ tables: { users: 1 } });
    expect(await checksums(target.url)).toEqual(before);

    const report = await copyDatabase({ from: source.url, to: target.url, overwrite: true });
    expect(report.tables.every((t) => t.match)).toBe(true);
    expect(await checksums(target.url)).toEqual(await checksums(source.url));
    const stranger = await withHandle(target.url, (h) =>
      h.db.selectFrom('users').select('id').where('id', '=', strangerId).executeTakeFirst(),
    );
    expect(stranger).toBeUndefined();

    // Overwriting a full target (every table, foreign keys with RESTRICT among them) works too.
    const again = await copyDatabase({ from: source.url, to: target.url, overwrite: true });
    expect(again.tables.every((t) => t.match)).toBe(true);
  });

  it('fails verification, naming the table, when the target does not keep what was written', async () => {
    const { db: source } = await seeded('sqlite');
    const target = await fresh(dialect);
    await withHandle(target.url, async (h) => {
      await migrate(h);
      // A trigger on the target rewrites every copied user's name after insertion.
      if (dialect === 'sqlite') {
        await sql`CREATE TRIGGER mangle AFTER INSERT ON users BEGIN
          UPDATE users SET name = name || '!' WHERE id = NEW.id; END`.execute(h.db);
      } else {
        await sql`CREATE FUNCTION mangle() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN NEW.name := NEW.name || '!'; RETURN NEW; END $$`.execute(h.db);
        await sql`CREATE TRIGGER mangle BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION mangle()`.execute(
          h.db,
        );
      }
    });
    const error = await failure(copyDatabase({ from: source.url, to: target.url }));
    expect(error.code).toBe('COPY_VERIFY_FAILED');
    expect(error.message).toMatch(/differs from .* in users \(source 2 rows, target 2, checksums differ\)$/);
    const report = error.context.report as { tables: Array<{ table: string; match: boolean }> };
    expect(report.tables.filter((t) => !t.match).map((t) => t.table)).toEqual(['users']);
  });
});

describe.runIf(DIALECTS.includes('postgres'))('copyDatabase between SQLite and PostgreSQL', () => {
  it('round-trips SQLite → PostgreSQL → SQLite with every value intact', async () => {
    const { db: original } = await seeded('sqlite', { tasks: 700, execution_logs: 1500 });
    const middle = await fresh('postgres');
    const final = await fresh('sqlite');

    const there = await copyDatabase({ from: original.url, to: middle.url });
    const back = await copyDatabase({ from: middle.url, to: final.url });
    expect(there.tables.every((t) => t.match)).toBe(true);
    expect(back.tables.every((t) => t.match)).toBe(true);
    expect(back.totalRows).toBe(there.totalRows);

    const [a, b, c] = await Promise.all([
      checksums(original.url),
      checksums(middle.url),
      checksums(final.url),
    ]);
    expect(b).toEqual(a);
    expect(c).toEqual(a);

    const rowsA = await normalisedRows(original.url);
    expect(await normalisedRows(final.url)).toEqual(rowsA);
    // Across dialects too, in the neutral shape.
    expect(await normalisedRows(middle.url)).toEqual(rowsA);

    // Spot checks in PostgreSQL's own types, so a shared blind spot of both readers shows.
    await withHandle(middle.url, async (h) => {
      const secret = await sql<{ b: Buffer; len: number }>`
        SELECT encrypted_value AS b, length(encrypted_value) AS len FROM secrets WHERE scope = 'workflow'`.execute(
        h.db,
      );
      expect(secret.rows[0]!.len).toBe(256);
      expect(Buffer.compare(secret.rows[0]!.b, ALL_BYTES)).toBe(0);
      const types = await sql<{ j: string; big: string; flag: boolean; at: string }>`
        SELECT jsonb_typeof(definition) AS j, duration_ms::text AS big, w.enabled AS flag,
          to_char(w.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS') AS at
        FROM workflows w, (SELECT duration_ms FROM tasks WHERE duration_ms IS NOT NULL) t
        WHERE definition IS NOT NULL`.execute(h.db);
      expect(types.rows[0]).toEqual({
        j: 'object',
        big: String(-BIG_INT),
        flag: true,
        at: '2026-03-28T21:00:00.123',
      });
      const definition = await sql<{
        d: string;
      }>`SELECT definition AS d FROM workflows WHERE definition IS NOT NULL`.execute(h.db);
      expect(JSON.parse(definition.rows[0]!.d)).toEqual(bigJson());
      const names = await sql<{ name: string }>`SELECT name FROM connectors WHERE name LIKE '%#0 %'`.execute(
        h.db,
      );
      expect(names.rows[0]!.name).toBe(`connectors.name#0 ${UNICODE}`);
    });
  });

  it('reads every digit of a double from a PostgreSQL set to print fewer', async () => {
    const { db: original } = await seeded('sqlite');
    const middle = await fresh('postgres');
    const final = await fresh('sqlite');
    await copyDatabase({ from: original.url, to: middle.url });
    // A setting an administrator may have: 15 significant digits, so 1/3 would lose its tail.
    // (A non-ISO datestyle would break the storage layer's own timestamp parser before the copy.)
    await withHandle(middle.url, (h) =>
      sql`ALTER DATABASE ${sql.id(new URL(middle.url).pathname.slice(1))} SET extra_float_digits = 0`.execute(
        h.db,
      ),
    );
    const report = await copyDatabase({ from: middle.url, to: final.url });
    expect(report.tables.every((t) => t.match)).toBe(true);
    expect(await normalisedRows(final.url)).toEqual(await normalisedRows(original.url));
  });

  it('copies PostgreSQL → PostgreSQL and refuses the same database under another host name', async () => {
    const { db: source } = await seeded('postgres', { execution_logs: 50 });
    const target = await fresh('postgres');
    const report = await copyDatabase({ from: source.url, to: target.url, batchSize: 16 });
    expect(report.tables.every((t) => t.match)).toBe(true);
    expect(await normalisedRows(target.url)).toEqual(await normalisedRows(source.url));

    const alias = new URL(source.url);
    alias.hostname = alias.hostname === 'localhost' ? '127.0.0.1' : 'localhost';
    const error = await failure(copyDatabase({ from: source.url, to: alias.toString(), overwrite: true }));
    expect(error.code).toBe('INPUT_INVALID');
    expect(error.message).toContain('the server reports the same database');
  });

  it('rolls the whole copy back when PostgreSQL rejects a value, naming the table', async () => {
    const { db: source } = await seeded('sqlite');
    await withHandle(source.url, (h) =>
      sql`UPDATE webhooks SET description = ${'NUL \u0000 inside'} WHERE description IS NOT NULL`.execute(
        h.db,
      ),
    );
    const target = await fresh('postgres');
    const error = await failure(copyDatabase({ from: source.url, to: target.url }));
    expect(error.code).toBe('COPY_FAILED');
    expect(error.message).toMatch(/^inserting webhooks rows .* failed: .*rolled back, nothing was written$/);
    const counts = await rowCounts(target.url);
    expect(Object.values(counts).every((n) => n === 0)).toBe(true);
  });
});

/**
 * A copy of one of `table`'s rows under a new id, with `column` naming a row that does not exist,
 * written as a restore with the references off would write it. Returns the new row's id and the
 * missing parent's.
 */
async function writeDangling(
  url: string,
  table: string,
  column: string,
): Promise<{ id: string; ghost: string }> {
  const id = newId();
  const ghost = newId();
  await withHandle(url, async (h) => {
    const names = (await h.dialect.listColumns(asUnknown(h), table)).map((c) => c.name);
    const copied = names.map((name) =>
      name === 'id'
        ? sql`${id}`
        : name === column
          ? sql`${ghost}`
          : name === 'idempotency_key'
            ? sql`NULL`
            : sql.ref(name),
    );
    // One connection for both statements: the setting is the session's.
    await asUnknown(h)
      .connection()
      .execute(async (conn) => {
        if (h.dialect.name === 'postgres') await sql`SET session_replication_role = replica`.execute(conn);
        else await sql`PRAGMA foreign_keys = OFF`.execute(conn);
        await sql`INSERT INTO ${sql.table(table)} (${sql.join(names.map((n) => sql.ref(n)))})
          SELECT ${sql.join(copied)} FROM ${sql.table(table)} LIMIT 1`.execute(conn);
      });
  });
  return { id, ghost };
}

describe.runIf(DIALECTS.includes('postgres'))('copyDatabase of rows naming a missing parent', () => {
  // PostgreSQL checks a log line's run by trigger, at once (a restore with triggers off skips
  // it); an event's run is a key, deferred to the commit like every key of a SQLite target.
  it.each([
    { from: 'postgres', to: 'sqlite', table: 'execution_logs' },
    { from: 'sqlite', to: 'postgres', table: 'events' },
    { from: 'sqlite', to: 'postgres', table: 'execution_logs' },
  ] as const)(
    'refuses $from → $to, naming the $table row, its column and missing parent, and writes nothing',
    async ({ from, to, table }) => {
      const { db: source } = await seeded(from);
      const ghost = await writeDangling(source.url, table, 'run_id');
      const target = await fresh(to);
      const error = await failure(copyDatabase({ from: source.url, to: target.url }));
      expect(error.code).toBe('DANGLING_REFERENCE');
      expect(error.message).toContain(
        `${table} ${ghost.id} (run_id = ${ghost.ghost}: no such workflow_runs row)`,
      );
      expect(error.message).toContain('nothing was written');
      expect(error.context).toMatchObject({
        references: [{ table, id: ghost.id, column: 'run_id', parent: 'workflow_runs' }],
      });
      const counts = await rowCounts(target.url);
      expect(Object.values(counts).every((n) => n === 0)).toBe(true);
    },
  );
});
