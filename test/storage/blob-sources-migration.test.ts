import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BLOB_SOURCES,
  migrate,
  MIGRATIONS,
  newId,
  openDatabase,
  type DatabaseHandle,
} from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

const NEW_SOURCES = ['task_chains', 'trigger_debounces', 'waitpoints'] as const;

/** Migration 0035: `blob_refs.source` may name the three tables whose values became blobs. */
describe.each(DIALECTS)('migration 0035 (blob sources) on %s', (dialect) => {
  let testDb: TestDatabase;
  let handle: DatabaseHandle;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect, { empty: true });
    handle = await openDatabase(testDb.url);
  });
  afterEach(async () => {
    await handle.close();
    await testDb.drop();
  });

  const insertRef = (source: string, sha = 'a'.repeat(64)) =>
    handle.db
      .insertInto('blob_refs')
      .values({ id: newId(), sha256: sha, owner_id: 'o1', source: source as never, source_id: newId() })
      .execute();
  const refs = () =>
    handle.db
      .selectFrom('blob_refs')
      .select(['id', 'sha256', 'source', 'created_at'])
      .orderBy('source')
      .execute();

  it('widens the CHECK to the new sources, keeping the references already there', async () => {
    await migrate(
      handle,
      MIGRATIONS.filter((m) => m.version < 35),
    );
    await insertRef('workflow_runs');
    await insertRef('tasks', 'b'.repeat(64));
    for (const source of NEW_SOURCES) await expect(insertRef(source)).rejects.toThrow();
    const before = await refs();

    expect(
      (
        await migrate(
          handle,
          MIGRATIONS.filter((m) => m.version <= 35),
        )
      ).map((m) => m.version),
    ).toEqual([35]);
    expect(await refs()).toEqual(before);
    expect(BLOB_SOURCES).toEqual(
      expect.arrayContaining([...NEW_SOURCES, 'workflow_runs', 'webhook_deliveries']),
    );
    for (const source of NEW_SOURCES) await insertRef(source);
    await expect(insertRef('nowhere')).rejects.toThrow();
    // Still one reference per (blob, source, row), and its indexes rebuilt.
    const first = await handle.db
      .selectFrom('blob_refs')
      .select(['sha256', 'source', 'source_id'])
      .where('source', '=', 'waitpoints')
      .executeTakeFirstOrThrow();
    await expect(
      handle.db
        .insertInto('blob_refs')
        .values({ id: newId(), owner_id: 'o1', ...first })
        .execute(),
    ).rejects.toThrow();
    const indexes =
      dialect === 'sqlite'
        ? sql<{
            name: string;
          }>`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'blob_refs'`
        : sql<{ name: string }>`SELECT indexname AS name FROM pg_indexes WHERE tablename = 'blob_refs'`;
    const names = (await indexes.execute(handle.db)).rows.map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining(['idx_blob_refs_owner', 'idx_blob_refs_source']));
  });
});
