import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  fromDbBool,
  migrate,
  MIGRATIONS,
  newId,
  openDatabase,
  type DatabaseHandle,
} from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

/**
 * Migration 0041: a keyed task counts against its first key from its own row, a key some task
 * holds as another is `slotted`, and keyed tasks waiting unparked are parked under their first.
 */
describe.each(DIALECTS)('migration 0041 (flow running index) on %s', (dialect) => {
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

  it('drops first-key slots, marks the other keys slotted and parks unparked keyed tasks', async () => {
    await migrate(
      handle,
      MIGRATIONS.filter((m) => m.version < 41),
    );
    const { db } = handle;
    const owner = newId();
    await db
      .insertInto('users')
      .values({ id: owner, name: 'o', email: 'o@example.com', role: 'member' } as never)
      .execute();
    const keys = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7'];
    for (const key of keys)
      await db
        .insertInto('flow_keys')
        .values({ id: newId(), key, owner_id: owner, scope: 'owner', max_running: 5 } as never)
        .execute();
    const task = async (status: string, flow: string[], parked: string | null) => {
      const id = newId();
      await db
        .insertInto('tasks')
        .values({
          id,
          owner_id: owner,
          task_type: 'test',
          input_data: '{}',
          status,
          concurrency_key: flow[0]!,
          flow_keys: JSON.stringify(flow),
          parked_key: parked,
        } as never)
        .execute();
      return id;
    };
    const slot = (key: string, taskId: string) =>
      db.insertInto('flow_slots').values({ id: newId(), key, task_id: taskId, lease_epoch: 1 }).execute();
    const one = await task('RUNNING', ['k1'], null);
    await slot('k1', one);
    const two = await task('RUNNING', ['k2', 'k3'], null);
    await slot('k2', two);
    await slot('k3', two);
    const retried = await task('PENDING', ['k4', 'k5'], null);
    const parked = await task('PENDING', ['k4'], 'k4');
    await task('COMPLETED', ['k6', 'k7'], null);

    expect(
      (
        await migrate(
          handle,
          MIGRATIONS.filter((m) => m.version <= 41),
        )
      ).map((m) => m.version),
    ).toEqual([41]);
    expect(await db.selectFrom('flow_slots').select(['key', 'task_id']).execute()).toEqual([
      { key: 'k3', task_id: two },
    ]);
    const slotted = await db.selectFrom('flow_keys').select(['key', 'slotted']).orderBy('key').execute();
    expect(slotted.filter((row) => fromDbBool(row.slotted)).map((row) => row.key)).toEqual(['k3', 'k5']);
    const parkedKeys = await db
      .selectFrom('tasks')
      .select(['id', 'parked_key'])
      .where('status', '=', 'PENDING')
      .orderBy('id')
      .execute();
    expect(new Map(parkedKeys.map((row) => [row.id, row.parked_key]))).toEqual(
      new Map([
        [retried, 'k4'],
        [parked, 'k4'],
      ]),
    );
  });
});
