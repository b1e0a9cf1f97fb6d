import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import {
  fromDbBool,
  fromDbJson,
  newId,
  Store,
  toDbBool,
  toDbJson,
  toDbTimestamp,
} from '../../src/storage/index.js';
import { SwarmError } from '../../src/errors/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

describe('value codecs', () => {
  it('normalises timestamps with zones to UTC milliseconds and refuses zoneless ones', () => {
    expect(toDbTimestamp('2026-03-29T02:30:00+05:30')).toBe('2026-03-28T21:00:00.000Z');
    expect(toDbTimestamp('2026-01-01 00:00:00.123456Z')).toBe('2026-01-01T00:00:00.123Z');
    expect(toDbTimestamp(new Date(0))).toBe('1970-01-01T00:00:00.000Z');
    expect(toDbTimestamp('2026-01-01T12:00:00+02')).toBe('2026-01-01T10:00:00.000Z');
    expect(toDbTimestamp('2026-01-01T12:00-0130')).toBe('2026-01-01T13:30:00.000Z');
    expect(() => toDbTimestamp('2024-02-30T00:00:00Z', 'at')).toThrow(/^at: not a real date and time/);
    expect(() => toDbTimestamp('2024-02-01T24:00:00Z')).toThrow(/not a real date/);
    expect(() => toDbTimestamp('2026-01-01 00:00:00', 'run_at')).toThrow(
      /^run_at: expected an ISO-8601 timestamp with a zone/,
    );
    expect(() => toDbTimestamp('2026-13-45T00:00:00Z')).toThrow(SwarmError);
  });

  it('makes time-ordered unique ids', () => {
    const ids = Array.from({ length: 1000 }, () => newId());
    expect(new Set(ids).size).toBe(1000);
    expect([...ids].sort()).toEqual(ids);
  });

  it('keeps ids UUIDv7 and in order across many refills of its random pool', () => {
    // 100,000 ids: hundreds of refills of the pool, most of them in the same millisecond.
    const ids = Array.from({ length: 100_000 }, () => newId());
    const v7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(ids.filter((id) => !v7.test(id))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id, i) => i > 0 && !(id > ids[i - 1]!))).toEqual([]);
    // The time prefix is the clock's (within the run of this test).
    const ms = parseInt(ids[0]!.replace('-', '').slice(0, 12), 16);
    expect(Math.abs(ms - Date.now())).toBeLessThan(60_000);
  });
});

describe.each(DIALECTS)('values through %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
  });
  afterAll(async () => {
    await store.close();
    await testDb.drop();
  });

  it('reads back JSON, booleans, timestamps, defaults and blobs in the same shape', async () => {
    const user = (await store.system.insertUserIfAbsent({
      name: 'Zoë 🐝',
      email: 'ZOE@example.com',
      role: 'member',
    }))!;
    expect(user.email).toBe('zoe@example.com');
    expect(user.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const db = store.handle.db;
    const json = { nested: { list: [1, 'two', null, true], unicode: '日本語 ✓ "quoted" \\ back' }, n: 123 };
    await db
      .insertInto('workflows')
      .values({
        id: newId(),
        owner_id: user.id,
        name: 'w',
        version: '1.0.0',
        steps: toDbJson(json),
        enabled: toDbBool(false),
      })
      .execute();
    const row = await db.selectFrom('workflows').selectAll().executeTakeFirstOrThrow();
    expect(fromDbJson(row.steps)).toEqual(json);
    expect(fromDbJson(row.variables)).toEqual({});
    expect(fromDbBool(row.enabled)).toBe(false);
    expect(row.status).toBe('active');
    expect(row.created_at).toMatch(/Z$/);

    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await db
      .insertInto('secrets')
      .values({
        id: newId(),
        owner_id: user.id,
        name: 's',
        encrypted_value: bytes,
        key_version: 1,
        updated_at: toDbTimestamp('2026-06-01T12:00:00-07:00'),
      })
      .execute();
    const secret = await db.selectFrom('secrets').selectAll().executeTakeFirstOrThrow();
    expect(Buffer.compare(secret.encrypted_value, bytes)).toBe(0);
    expect(secret.updated_at).toBe('2026-06-01T19:00:00.000Z');
    expect(secret.scope).toBe('global');
  });

  it('reads timestamps as ISO UTC milliseconds whatever their fraction, zone or server zone', async () => {
    const db = store.handle.db;
    const user = (await store.system.insertUserIfAbsent({
      name: 't',
      email: 't@example.com',
      role: 'member',
    }))!;
    const workflowId = newId();
    await db
      .insertInto('workflows')
      .values({ id: workflowId, owner_id: user.id, name: 'w-times', version: '1.0.0', steps: toDbJson([]) })
      .execute();
    const stored = async (text: string) => {
      await db.deleteFrom('workflow_runs').execute();
      await db
        .insertInto('workflow_runs')
        .values({ id: newId(), workflow_id: workflowId, owner_id: user.id, started_at: toDbTimestamp(text) })
        .execute();
      return (await db.selectFrom('workflow_runs').select('started_at').executeTakeFirstOrThrow()).started_at;
    };
    expect(await stored('2026-12-05T03:45:12Z')).toBe('2026-12-05T03:45:12.000Z');
    expect(await stored('2026-12-05T03:45:12.1Z')).toBe('2026-12-05T03:45:12.100Z');
    expect(await stored('2026-12-05T03:45:12.12Z')).toBe('2026-12-05T03:45:12.120Z');
    expect(await stored('2026-12-05T03:45:12.123Z')).toBe('2026-12-05T03:45:12.123Z');
    expect(await stored('0999-01-02T23:59:59.999+05:30')).toBe('0999-01-02T18:29:59.999Z');
    if (dialect === 'postgres') {
      // Microseconds of a computed value are cut to milliseconds, a session set to another zone
      // still reads in UTC, and 'infinity' stays PostgreSQL's word: the parser's long way.
      const row = await db.connection().execute(async (conn) => {
        await sql`SET TIME ZONE 'America/Caracas'`.execute(conn);
        try {
          return await sql<{ micro: string; zoned: string; inf: unknown }>`
            SELECT '2026-12-05 03:45:12.123456+00'::timestamptz AS micro,
              '2026-12-05 03:45:12.5-04'::timestamptz AS zoned, 'infinity'::timestamptz AS inf`.execute(conn);
        } finally {
          await sql`SET TIME ZONE 'UTC'`.execute(conn);
        }
      });
      expect(row.rows[0]).toEqual({
        micro: '2026-12-05T03:45:12.123Z',
        zoned: '2026-12-05T07:45:12.500Z',
        inf: 'infinity',
      });
    }
  });

  it('enforces the CHECK constraints and foreign keys', async () => {
    const db = store.handle.db;
    const owner = (await store.system.insertUserIfAbsent({
      name: 'c',
      email: 'c@example.com',
      role: 'member',
    }))!;
    const agent = { id: newId(), owner_id: owner.id, name: 'a', version: '1.0.0' };
    await expect(
      db
        .insertInto('agents')
        .values({ ...agent, trust_score: 1.5 } as never)
        .execute(),
    ).rejects.toThrow(/chk_agents_trust_score|CHECK/i);
    await expect(
      db
        .insertInto('tasks')
        .values({ id: newId(), owner_id: owner.id, priority: 11 } as never)
        .execute(),
    ).rejects.toThrow(/chk_tasks_priority|CHECK/i);
    await expect(
      db
        .insertInto('tasks')
        .values({ id: newId(), owner_id: owner.id, status: 'DONE' } as never)
        .execute(),
    ).rejects.toThrow(/chk_tasks_status|CHECK/i);
    await expect(
      db.insertInto('tasks').values({ id: newId(), owner_id: 'nobody' }).execute(),
    ).rejects.toThrow(/foreign key/i);
    await db.insertInto('agents').values(agent).execute();
    await expect(
      db
        .insertInto('agents')
        .values({ ...agent, id: newId() })
        .execute(),
    ).rejects.toThrow(/unique/i);
  });
});
