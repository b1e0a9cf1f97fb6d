import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepBlobs } from '../../src/blobs/index.js';
import { DEFAULT_RETENTION, loadConfig } from '../../src/config/index.js';
import { Engine } from '../../src/engine/index.js';
import { pruneRecords } from '../../src/history/index.js';
import { enqueueTasks, flowKey, type FlowLimit } from '../../src/queue/index.js';
import { buildApp } from '../../src/server/index.js';
import { newId, Store, toDbTimestamp } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { bearer, keyFor } from '../helpers/people.js';

const DAY_MS = 86_400_000;
const daysAgo = (days: number) => toDbTimestamp(new Date(Date.now() - days * DAY_MS));

describe.each(DIALECTS)('retention of tasks of no run on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let engine: Engine;
  let ownerId: string;

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    engine = new Engine(store);
    const user = await store.system.insertUserIfAbsent({ name: 'o', email: 'o@example.com', role: 'admin' });
    ownerId = user!.id;
  });
  afterAll(async () => {
    await store.close();
    await testDb.drop();
  });

  const db = () => store.handle.db;

  async function enqueue(input: unknown = {}, parentTaskId?: string): Promise<string> {
    const [id] = await enqueueTasks(db(), store.handle.dialect, [
      { ownerId, taskType: 'noop', agentName: 'builtin/noop', agentVersion: '1.0.0', input, parentTaskId },
    ]);
    return id!;
  }

  /** Ends the task `status`, `age` days ago. */
  async function end(id: string, age: number, status = 'COMPLETED') {
    await db()
      .updateTable('tasks')
      .set({ status, completed_at: daysAgo(age) })
      .where('id', '=', id)
      .execute();
  }

  const exists = async (id: string) =>
    (await db().selectFrom('tasks').select('id').where('id', '=', id).execute()).length === 1;

  it('deletes old ended tasks with their logs and attempts, detaches their metrics, keeps the rest', async () => {
    const old = await enqueue();
    const failed = await enqueue();
    const young = await enqueue();
    const waiting = await enqueue();
    await end(old, 100);
    await end(failed, 95, 'FAILED');
    await end(young, 10);
    // Pending for long: never pruned, whatever its age.
    await db()
      .updateTable('tasks')
      .set({ created_at: daysAgo(400) })
      .where('id', '=', waiting)
      .execute();
    const metric = newId();
    await db()
      .insertInto('metrics')
      .values({ id: metric, owner_id: ownerId, task_id: old, name: 'step', execution_time_ms: 5 })
      .execute();
    await db()
      .insertInto('execution_logs')
      .values({ id: newId(), owner_id: ownerId, task_id: old, message: 'old task said' })
      .execute();
    await db()
      .insertInto('worker_assignments')
      .values({
        id: newId(),
        task_id: failed,
        worker_id: 'w1',
        status: 'released',
        lease_epoch: 1,
        assigned_at: daysAgo(96),
      })
      .execute();

    const report = await pruneRecords(store, engine, DEFAULT_RETENTION, { batch: 1 });

    expect(report.tasks).toBe(2);
    expect(await exists(old)).toBe(false);
    expect(await exists(failed)).toBe(false);
    expect(await exists(young)).toBe(true);
    expect(await exists(waiting)).toBe(true);
    expect(
      await db().selectFrom('metrics').select(['id', 'task_id']).where('id', '=', metric).execute(),
    ).toEqual([{ id: metric, task_id: null }]);
    expect(await db().selectFrom('execution_logs').select('id').where('task_id', '=', old).execute()).toEqual(
      [],
    );
    expect(
      await db().selectFrom('worker_assignments').select('id').where('task_id', '=', failed).execute(),
    ).toEqual([]);
  });

  it('deletes a tree of ended tasks from its leaves, and keeps a parent while a child runs', async () => {
    const parent = await enqueue();
    const child = await enqueue({}, parent);
    const grandchild = await enqueue({}, child);
    for (const id of [parent, child, grandchild]) await end(id, 120);
    const busyParent = await enqueue();
    const running = await enqueue({}, busyParent);
    await end(busyParent, 120);
    await db().updateTable('tasks').set({ status: 'RUNNING' }).where('id', '=', running).execute();

    const report = await pruneRecords(store, engine, DEFAULT_RETENTION, { batch: 1 });

    expect(report.tasks).toBe(3);
    for (const id of [parent, child, grandchild]) expect(await exists(id)).toBe(false);
    expect(await exists(busyParent)).toBe(true);
    expect(await exists(running)).toBe(true);
  });

  it('deletes an ended chain once its tasks are gone, and not before', async () => {
    const chain = (status: string, age: number) => ({
      id: newId(),
      owner_id: ownerId,
      name: `chain-${status}`,
      steps: '[]',
      status,
      completed_at: status === 'RUNNING' ? null : daysAgo(age),
    });
    const done = chain('COMPLETED', 100);
    const kept = chain('COMPLETED', 100);
    const running = chain('RUNNING', 0);
    await db().insertInto('task_chains').values([done, kept, running]).execute();
    const doneStep = await enqueue();
    const youngStep = await enqueue();
    await db().updateTable('tasks').set({ chain_id: done.id }).where('id', '=', doneStep).execute();
    await db().updateTable('tasks').set({ chain_id: kept.id }).where('id', '=', youngStep).execute();
    await end(doneStep, 100);
    await end(youngStep, 5);

    const report = await pruneRecords(store, engine, DEFAULT_RETENTION);

    expect(report.chains).toBe(1);
    const left = (await db().selectFrom('task_chains').select('id').execute()).map((r) => r.id);
    expect(left).not.toContain(done.id);
    expect(left).toEqual(expect.arrayContaining([kept.id, running.id]));
  });

  it('frees a pruned task’s input blob, and keeps everything when the setting is 0', async () => {
    const big = { text: 'x'.repeat(200_000) };
    const kept = await enqueue(big);
    await end(kept, 100);
    expect((await pruneRecords(store, engine, { ...DEFAULT_RETENTION, tasksDays: 0 })).tasks).toBe(0);
    expect(await exists(kept)).toBe(true);

    const refs = () =>
      db()
        .selectFrom('blob_refs')
        .select('sha256')
        .where('source', '=', 'tasks')
        .where('source_id', '=', kept)
        .execute();
    expect(await refs()).toHaveLength(1);
    const [{ sha256 }] = (await refs()) as [{ sha256: string }];
    await pruneRecords(store, engine, DEFAULT_RETENTION);
    expect(await exists(kept)).toBe(false);
    // Past the sweep's grace period: the reference of the deleted row goes, then the blob.
    await sweepBlobs(store.handle, new Date(Date.now() + 2 * 3_600_000));
    expect(await refs()).toEqual([]);
    expect(await db().selectFrom('blobs').select('id').where('id', '=', sha256).execute()).toEqual([]);
  });

  it('deletes the flow keys no unfinished task is under any more, and keeps the others', async () => {
    const limit = (value: string): FlowLimit => ({
      key: flowKey('concurrency', 'owner', { ownerId }, value),
      scope: 'owner',
      maxRunning: 2,
    });
    const [ended, waiting] = await enqueueTasks(db(), store.handle.dialect, [
      { ownerId, taskType: 'noop', input: {}, flow: [limit('ended')] },
      { ownerId, taskType: 'noop', input: {}, flow: [limit('waiting')] },
    ]);
    await end(ended!, 1);
    const report = await pruneRecords(store, engine, DEFAULT_RETENTION);
    expect(report.flowKeys).toBe(1);
    expect(await db().selectFrom('flow_keys').select('key').execute()).toEqual([
      { key: limit('waiting').key },
    ]);
    expect(await exists(ended!)).toBe(true);
    expect(await exists(waiting!)).toBe(true);
  });
});

describe.each(DIALECTS)('an owner’s own retention on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let engine: Engine;
  let app: FastifyInstance;
  const people: Record<'admin' | 'alice' | 'bob' | 'carol', { id: string; key: string }> = {} as never;

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    engine = new Engine(store);
    for (const [name, role] of [
      ['admin', 'admin'],
      ['alice', 'member'],
      ['bob', 'member'],
      ['carol', 'member'],
    ] as const) {
      const user = await store.system.insertUserIfAbsent({ name, email: `${name}@example.com`, role });
      people[name] = { id: user!.id, key: await keyFor(store, { id: user!.id, role }) };
    }
    app = await buildApp({ store, engine, rateLimits: false });
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
    await testDb?.drop();
  });

  const put = (key: string, payload: Record<string, unknown>, who: string) =>
    app.inject({ method: 'PUT', url: `/api/v1/users/${who}/retention`, headers: bearer(key), payload });

  /** A task of `ownerId` that ended `age` days ago. */
  async function ended(ownerId: string, age: number): Promise<string> {
    const { db, dialect: adapter } = store.handle;
    const [id] = await enqueueTasks(db, adapter, [{ ownerId, taskType: 'noop', input: {} }]);
    await db
      .updateTable('tasks')
      .set({ status: 'COMPLETED', completed_at: daysAgo(age) })
      .where('id', '=', id!)
      .execute();
    return id!;
  }
  const left = async (ids: string[]) =>
    (await store.handle.db.selectFrom('tasks').select('id').where('id', 'in', ids).execute())
      .map((r) => r.id)
      .sort();

  it('prunes an owner by the days an admin set, others by the server’s, and 0 keeps everything', async () => {
    const refused = await put(people.alice.key, { retention_days: 1 }, people.alice.id);
    expect(refused.statusCode).toBe(403);
    for (const bad of [-1, 36_501, 2.5, 'soon']) {
      const res = await put(people.admin.key, { retention_days: bad }, people.alice.id);
      expect(res.statusCode, String(bad)).toBe(400);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
      expect(res.body).toMatch(/retention_days/);
    }
    expect((await put(people.admin.key, { retention_days: 7 }, 'ghost@example.com')).statusCode).toBe(404);
    // Nothing was written by the refused requests.
    const days = async (id: string) =>
      (
        await store.handle.db
          .selectFrom('users')
          .select('retention_days')
          .where('id', '=', id)
          .executeTakeFirstOrThrow()
      ).retention_days;
    expect(await days(people.alice.id)).toBeNull();

    const set = await put(people.admin.key, { retention_days: 7 }, 'alice@example.com');
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toEqual({ userId: people.alice.id, retention_days: 7 });
    expect((await put(people.admin.key, { retention_days: 0 }, people.bob.id)).statusCode).toBe(200);
    const audit = await store.handle.db
      .selectFrom('audit_logs')
      .select(['action', 'resource_id'])
      .where('action', '=', 'user.retention')
      .execute();
    expect(audit.map((a) => a.resource_id).sort()).toEqual([people.alice.id, people.bob.id].sort());

    const alice10 = await ended(people.alice.id, 10);
    const alice3 = await ended(people.alice.id, 3);
    const bob400 = await ended(people.bob.id, 400);
    const carol10 = await ended(people.carol.id, 10);
    const carol100 = await ended(people.carol.id, 100);

    const report = await pruneRecords(store, engine, DEFAULT_RETENTION);

    expect(report.tasks).toBe(2);
    // Alice: 7 days. Bob: forever. Carol: the server's 90 days.
    expect(await left([alice10, alice3, bob400, carol10, carol100])).toEqual(
      [alice3, bob400, carol10].sort(),
    );

    // Cleared: Alice is back under the server's 90 days.
    expect(
      (await put(people.admin.key, { retention_days: null }, people.alice.id)).json().retention_days,
    ).toBeNull();
    expect(await days(people.alice.id)).toBeNull();
  });
});

describe('SWARM_RETENTION_TASKS_DAYS', () => {
  it('defaults to 90 days, takes 0 for forever, and names itself when wrong', () => {
    expect(loadConfig({}).retention.tasksDays).toBe(90);
    expect(loadConfig({ SWARM_RETENTION_TASKS_DAYS: '0' }).retention.tasksDays).toBe(0);
    expect(() => loadConfig({ SWARM_RETENTION_TASKS_DAYS: 'soon' })).toThrow(/SWARM_RETENTION_TASKS_DAYS/);
  });
});
