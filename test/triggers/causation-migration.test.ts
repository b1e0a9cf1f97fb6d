import { sql, type Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  MIGRATIONS,
  migrate,
  openDatabase,
  type DatabaseHandle,
  type SwarmDatabase,
} from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

/**
 * Migration 0010 widens trigger_firings' status CHECK: PostgreSQL alters the constraint, SQLite
 * rebuilds the table. Firings written before it must survive with their keys still unique.
 */
describe.each(DIALECTS)('migration 0010 (event causation) on %s', (dialect) => {
  let testDb: TestDatabase;
  let handle: DatabaseHandle;
  const before = MIGRATIONS.filter((m) => m.version < 10);
  const through10 = MIGRATIONS.filter((m) => m.version <= 10);

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect, { empty: true });
    handle = await openDatabase(testDb.url);
  });
  afterEach(async () => {
    await handle.close();
    await testDb.drop();
  });

  it('keeps existing firings, accepts refused ones with a reason, and still enforces the constraints', async () => {
    await migrate(handle, before);
    const db = handle.db as unknown as Kysely<SwarmDatabase>;
    await db
      .insertInto('users')
      .values({ id: 'u1', name: 'U', email: 'u@example.com', role: 'admin' })
      .execute();
    await db
      .insertInto('workflows')
      .values({ id: 'w1', owner_id: 'u1', name: 'w', version: '1.0.0', steps: '[]', enabled: 1 })
      .execute();
    await db
      .insertInto('triggers')
      .values({ id: 't1', owner_id: 'u1', workflow_id: 'w1', workflow_name: 'w', type: 'event', enabled: 1 })
      .execute();
    const old = { owner_id: 'u1', trigger_id: 't1', status: 'skipped', error: 'missed' } as const;
    await db
      .insertInto('trigger_firings')
      .values([
        { ...old, id: 'f1', fire_key: 'tick:1' },
        { ...old, id: 'f2', fire_key: 'tick:2' },
      ] as never)
      .execute();

    await migrate(handle, through10);
    const kept = await db.selectFrom('trigger_firings').selectAll().orderBy('id').execute();
    expect(kept).toMatchObject([
      { id: 'f1', fire_key: 'tick:1', status: 'skipped', error: 'missed', reason: null },
      { id: 'f2', fire_key: 'tick:2', status: 'skipped', error: 'missed', reason: null },
    ]);
    await db
      .insertInto('trigger_firings')
      .values({
        id: 'f3',
        owner_id: 'u1',
        trigger_id: 't1',
        fire_key: 'event:e1',
        status: 'refused',
        reason: 'self-triggered',
      })
      .execute();
    const firing = (id: string, key: string, status: string, trigger = 't1') =>
      db
        .insertInto('trigger_firings')
        .values({ id, owner_id: 'u1', trigger_id: trigger, fire_key: key, status } as never)
        .execute();
    await expect(firing('f4', 'event:e2', 'bogus')).rejects.toThrow(/check/i);
    await expect(firing('f5', 'tick:1', 'started')).rejects.toThrow(/unique|duplicate/i);
    await expect(firing('f6', 'event:e3', 'started', 'no-such-trigger')).rejects.toThrow(/foreign key/i);
    // The indexes 0008 made are there again, under their names, on the new table.
    const indexes =
      dialect === 'sqlite'
        ? await sql<{
            name: string;
          }>`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'trigger_firings'`.execute(db)
        : await sql<{
            name: string;
          }>`SELECT indexname AS name FROM pg_indexes WHERE tablename = 'trigger_firings'`.execute(db);
    const names = indexes.rows.map((r) => r.name);
    expect(names).toEqual(
      expect.arrayContaining(['idx_trigger_firings_trigger', 'idx_trigger_firings_created']),
    );
    // Deleting the trigger still takes its firings with it (ON DELETE CASCADE survived).
    await db.deleteFrom('triggers').where('id', '=', 't1').execute();
    expect(await db.selectFrom('trigger_firings').select('id').execute()).toEqual([]);
  });

  it('gives existing events and runs depth 0', async () => {
    await migrate(handle, before);
    const db = handle.db as unknown as Kysely<SwarmDatabase>;
    await db
      .insertInto('users')
      .values({ id: 'u1', name: 'U', email: 'u@example.com', role: 'admin' })
      .execute();
    await db
      .insertInto('events')
      .values({ id: 'e1', owner_id: 'u1', source: 's', type: 't', payload: '{}' } as never)
      .execute();
    await migrate(handle, through10);
    expect(await db.selectFrom('events').select(['id', 'depth']).execute()).toEqual([{ id: 'e1', depth: 0 }]);
  });
});
