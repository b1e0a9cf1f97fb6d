import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql, type Kysely } from 'kysely';
import { Store, type DatabaseHandle } from '../../src/storage/index.js';
import { TASK_REFERENCES_BY_TRIGGER } from '../../src/storage/migrations/0039-task-references-by-trigger.js';
import { TASK_OWNER_REFERENCE } from '../../src/storage/migrations/0044-task-owner-by-trigger.js';
import { RECORD_REFERENCES_BY_TRIGGER } from '../../src/storage/migrations/0045-record-references-by-trigger.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { sourceFiles } from '../helpers/sources.js';

/**
 * Parents whose rows Swarm never deletes (it disables, deprecates or revokes them), so their
 * children need no index for it. The test below holds the source to that: a DELETE of one of
 * these tables anywhere under src/ fails it.
 */
const NEVER_DELETED = ['users', 'workflows', 'api_keys', 'agents'] as const;

interface Reference {
  readonly child: string;
  readonly column: string;
  readonly parent: string;
}

async function references(handle: DatabaseHandle): Promise<Reference[]> {
  const db = handle.db as unknown as Kysely<unknown>;
  if (handle.dialect.name === 'postgres') {
    const keys = await sql<Reference>`
      SELECT c.conrelid::regclass::text AS child, a.attname AS column, c.confrelid::regclass::text AS parent
      FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
      WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace`.execute(db);
    // 0039's, 0044's and 0045's references are triggers on PostgreSQL, which look their
    // children up by the column too.
    return [
      ...keys.rows,
      ...[...TASK_REFERENCES_BY_TRIGGER, TASK_OWNER_REFERENCE].map((ref) => ({
        child: 'tasks',
        column: ref.column,
        parent: ref.table,
      })),
      ...RECORD_REFERENCES_BY_TRIGGER.map(({ child, column, parent }) => ({ child, column, parent })),
    ];
  }
  const keys = await sql<Reference>`
    SELECT m.name AS child, f."from" AS column, f."table" AS parent
    FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table'`.execute(db);
  return keys.rows;
}

/** Each table's columns that lead an index (or the primary key), as `table.column`. */
async function indexedColumns(handle: DatabaseHandle): Promise<Set<string>> {
  const db = handle.db as unknown as Kysely<unknown>;
  const rows =
    handle.dialect.name === 'postgres'
      ? await sql<{ name: string }>`
          SELECT i.indrelid::regclass::text || '.' || a.attname AS name
          FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
          JOIN pg_class t ON t.oid = i.indrelid WHERE t.relnamespace = current_schema()::regnamespace`.execute(
          db,
        )
      : await sql<{ name: string }>`
          SELECT m.name || '.' || ii.name AS name
          FROM sqlite_master m, pragma_index_list(m.name) il, pragma_index_info(il.name) ii
          WHERE m.type = 'table' AND ii.seqno = 0`.execute(db);
  return new Set(rows.rows.map((row) => row.name));
}

describe.each(DIALECTS)('foreign keys on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let handle: DatabaseHandle;
  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    handle = store.handle;
  });
  afterAll(async () => {
    await store.close();
    await testDb.drop();
  });

  it('are indexed on the child side wherever Swarm deletes the parent rows', async () => {
    const indexed = await indexedColumns(handle);
    const refs = await references(handle);
    expect(refs.length).toBeGreaterThan(50);
    const missing = refs
      .filter((ref) => !(NEVER_DELETED as readonly string[]).includes(ref.parent))
      .filter((ref) => !indexed.has(`${ref.child}.${ref.column}`))
      .map((ref) => `${ref.child}.${ref.column} → ${ref.parent}`);
    expect(missing).toEqual([]);
  });
});

describe('parents Swarm never deletes', () => {
  it('are deleted nowhere in src/', () => {
    const src = path.resolve(import.meta.dirname, '../../src');
    const files = sourceFiles(src);
    expect(files.length).toBeGreaterThan(100);
    const deletes = NEVER_DELETED.map(
      (table) => new RegExp(`deleteFrom\\(\\s*'${table}'|DELETE\\s+FROM\\s+"?${table}\\b`, 'i'),
    );
    const found = files.flatMap((file) => {
      const text = fs.readFileSync(file, 'utf8');
      return deletes.filter((re) => re.test(text)).map((re) => `${path.relative(src, file)}: ${re.source}`);
    });
    expect(found).toEqual([]);
  });
});
