import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sql, type Kysely } from 'kysely';
import { migrate, MIGRATIONS, openDatabase, type DatabaseHandle } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

const BEFORE_PEOPLE = MIGRATIONS.filter((m) => m.version < 13);

describe.each(DIALECTS)('migration 0013 (people) on %s', (dialect) => {
  let testDb: TestDatabase;
  let handle: DatabaseHandle;
  const db = () => handle.db as unknown as Kysely<Record<string, Record<string, unknown>>>;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect, { empty: true });
    handle = await openDatabase(testDb.url);
  });
  afterEach(async () => {
    await handle.close();
    await testDb.drop();
  });

  it('keeps existing users and every foreign key pointing at them, and accepts viewers', async () => {
    await migrate(handle, BEFORE_PEOPLE);
    await db()
      .insertInto('users')
      .values({ id: 'u1', name: 'Ada', email: 'ada@example.com', role: 'admin', password_hash: 'h' })
      .execute();
    await db()
      .insertInto('api_keys')
      .values({ id: 'k1', owner_id: 'u1', name: 'k', key_prefix: 'p', key_hash: 'kh', created_by: 'u1' })
      .execute();
    await expect(
      db()
        .insertInto('users')
        .values({ id: 'u0', name: 'V', email: 'v@example.com', role: 'viewer' })
        .execute(),
    ).rejects.toThrow();

    await migrate(handle);

    const users = await db().selectFrom('users').selectAll().execute();
    expect(users).toMatchObject([
      {
        id: 'u1',
        email: 'ada@example.com',
        role: 'admin',
        password_hash: 'h',
        status: 'active',
        grants: '[]',
      },
    ]);
    await db()
      .insertInto('users')
      .values({ id: 'u2', name: 'V', email: 'v@example.com', role: 'viewer' })
      .execute();
    await expect(
      db()
        .insertInto('users')
        .values({ id: 'u3', name: 'R', email: 'r@example.com', role: 'root' })
        .execute(),
    ).rejects.toThrow();
    await expect(
      db().insertInto('users').values({ id: 'u4', name: 'D', email: 'ada@example.com' }).execute(),
    ).rejects.toThrow();
    // The keys' foreign keys still point at users: a key of no user is refused, an owner cannot go.
    await expect(
      db()
        .insertInto('api_keys')
        .values({ id: 'k2', owner_id: 'nobody', name: 'k', key_prefix: 'p', key_hash: 'x' })
        .execute(),
    ).rejects.toThrow();
    await expect(db().deleteFrom('users').where('id', '=', 'u1').execute()).rejects.toThrow();
    if (dialect === 'sqlite') {
      const fk = await sql<{ table: string }>`PRAGMA foreign_key_check`.execute(handle.db);
      expect(fk.rows).toEqual([]);
      const enforced = await sql<{ foreign_keys: number }>`PRAGMA foreign_keys`.execute(handle.db);
      expect(enforced.rows[0]!.foreign_keys).toBe(1);
    }
    // Sessions go with their user.
    await db()
      .insertInto('sessions')
      .values({
        id: 's1',
        user_id: 'u2',
        token_hash: 't',
        idle_expires_at: new Date().toISOString(),
        expires_at: new Date().toISOString(),
      })
      .execute();
    await db().deleteFrom('users').where('id', '=', 'u2').execute();
    expect(await db().selectFrom('sessions').selectAll().execute()).toEqual([]);
  });
});
