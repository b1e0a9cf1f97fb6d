import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { Engine } from '../../src/engine/index.js';
import { DEFAULT_RETENTION } from '../../src/config/index.js';
import { archiveFinishedRuns, claimLease, pruneRecords } from '../../src/history/index.js';
import { buildApp } from '../../src/server/index.js';
import { insertMessages, newId, Store, toDbTimestamp, type Caller } from '../../src/storage/index.js';
import { Registry } from '../../src/registry/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';
import { drain, type EngineFixture } from '../engine/helpers.js';

const DAY_MS = 86_400_000;
const daysAgo = (days: number) => toDbTimestamp(new Date(Date.now() - days * DAY_MS));

describe.each(DIALECTS)('execution history and retention on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let engine: Engine;
  let app: FastifyInstance;
  let key: string;
  let otherKey: string;
  let caller: Caller;
  let fx: EngineFixture;

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    engine = new Engine(store);
    const admin = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!;
    key = admin.key;
    caller = { userId: admin.user.id, role: admin.user.role };
    otherKey = (await memberWithKey(store, { name: 'B', email: 'b@example.com' }, 'b')).key;
    app = await buildApp({ store, engine });
    fx = { testDb, store, engine, registry: new Registry(store), caller, close: async () => {} };
    await fx.registry.as(caller).workflows.apply({
      name: 'talk',
      version: '1.0.0',
      steps: [{ id: 'a', agent: 'builtin/transform', input: { said: '{{ trigger.say }}' } }],
    });
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  const call = (method: 'GET' | 'POST', url: string, asKey = key) =>
    app.inject({ method, url, headers: { authorization: `Bearer ${asKey}` } });

  /** A finished run of `talk` with one message, its ending moved `age` days back. */
  async function finishedRun(say: string, age = 0): Promise<string> {
    const { agents, workflows } = fx.registry.as(caller);
    const id = await engine.startRun(caller, await workflows.get('talk'), agents, { input: { say } });
    await drain(fx);
    const task = await store.handle.db
      .selectFrom('tasks')
      .select('id')
      .where('run_id', '=', id)
      .executeTakeFirstOrThrow();
    await insertMessages(store.handle.db, [
      {
        id: newId(),
        ownerId: caller.userId,
        runId: id,
        taskId: task.id,
        sender: 'a',
        recipient: null,
        messageType: 'broadcast',
        content: JSON.stringify({ said: say }),
        metadata: '{}',
      },
    ]);
    if (age > 0) {
      await store.handle.db
        .updateTable('workflow_runs')
        .set({ completed_at: daysAgo(age), created_at: daysAgo(age) })
        .where('id', '=', id)
        .execute();
      await store.handle.db
        .updateTable('messages' as never)
        .set({ created_at: daysAgo(age) } as never)
        .where('run_id' as never, '=', id as never)
        .execute();
    }
    return id;
  }

  const historyRows = (runId: string) =>
    store.handle.db.selectFrom('execution_history').selectAll().where('run_id', '=', runId).execute();

  it('archives each finished run once, with its input, output, conversation and metrics', async () => {
    const id = await finishedRun('hello');
    // Three archivers at once (three server processes): one row.
    await Promise.all([
      archiveFinishedRuns(store, engine),
      archiveFinishedRuns(store, engine),
      archiveFinishedRuns(store, engine),
    ]);
    expect(await historyRows(id)).toHaveLength(1);
    expect(await archiveFinishedRuns(store, engine)).toBe(0);

    const res = await call('GET', `/api/v1/history/${id}`);
    expect(res.statusCode).toBe(200);
    const entry = res.json();
    expect(entry).toMatchObject({
      runId: id,
      workflow: 'talk',
      version: '1.0.0',
      status: 'completed',
      input: { say: 'hello' },
      output: { a: { said: 'hello' } },
      metrics: { steps: 1, attempts: 1, messages: 1, stepDurations: { a: expect.any(Number) } },
      run: { id, status: 'completed' },
    });
    expect(entry.conversation).toEqual([
      expect.objectContaining({ sender: 'a', content: { said: 'hello' } }),
    ]);

    const list = (await call('GET', '/api/v1/history?workflow=talk&status=completed')).json();
    expect(list.items.map((i: { runId: string }) => i.runId)).toContain(id);
    expect((await call('GET', '/api/v1/history?status=failed')).json().items).toEqual([]);
    // Another owner sees none of it.
    expect((await call('GET', `/api/v1/history/${id}`, otherKey)).statusCode).toBe(404);
    expect((await call('GET', '/api/v1/history', otherKey)).json().items).toEqual([]);
    // Bad filters are 400s naming the field.
    const bad = await call('GET', '/api/v1/history?since=yesterday');
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toMatch(/since/);
    expect((await call('GET', '/api/v1/history?status=running')).statusCode).toBe(400);
  });

  it('prunes old records by the policy, archiving a run before its rows go, and keeps the history readable', async () => {
    const old = await finishedRun('old', 100);
    const recent = await finishedRun('recent');
    // Not archived yet: the pruner must archive it before deleting it.
    expect(await historyRows(old)).toHaveLength(0);
    const db = store.handle.db;
    const oldMetric = newId();
    await db
      .insertInto('metrics')
      .values([
        {
          id: oldMetric,
          owner_id: caller.userId,
          run_id: old,
          name: 'usage',
          token_usage: 7,
          created_at: daysAgo(100),
        },
        { id: newId(), owner_id: caller.userId, name: 'usage', token_usage: 1, created_at: daysAgo(400) },
      ])
      .execute();
    await db
      .insertInto('execution_logs')
      .values([
        { id: newId(), owner_id: caller.userId, message: 'ancient', created_at: daysAgo(95) },
        { id: newId(), owner_id: caller.userId, message: 'fresh', created_at: daysAgo(1) },
      ])
      .execute();

    // A failed attempt of its task: a row no foreign key ties to the task.
    const oldTask = await db
      .selectFrom('tasks')
      .select('id')
      .where('run_id', '=', old)
      .executeTakeFirstOrThrow();
    await db
      .insertInto('worker_assignments')
      .values({ id: newId(), task_id: oldTask.id, worker_id: 'w', status: 'lost', lease_epoch: 1 })
      .execute();

    const report = await pruneRecords(store, engine, DEFAULT_RETENTION, { batch: 1 });
    expect(report).toMatchObject({ runs: 1, metrics: 1 });
    expect(
      await db.selectFrom('worker_assignments').select('id').where('task_id', '=', oldTask.id).execute(),
    ).toEqual([]);
    expect(report.logs).toBeGreaterThanOrEqual(1);
    expect(await db.selectFrom('workflow_runs').select('id').where('id', '=', old).execute()).toEqual([]);
    expect(await db.selectFrom('workflow_runs').select('id').where('id', '=', recent).execute()).toHaveLength(
      1,
    );
    // Its usage stays (a year's retention), detached from the deleted run.
    expect(
      await db.selectFrom('metrics').select(['id', 'run_id']).where('id', '=', oldMetric).execute(),
    ).toEqual([{ id: oldMetric, run_id: null }]);
    const logs = (
      await db.selectFrom('execution_logs').select('message').where('run_id', 'is', null).execute()
    ).map((r) => r.message);
    expect(logs).toContain('fresh');
    expect(logs).not.toContain('ancient');

    // The history answers for the pruned run, and so does the run itself.
    const archived = await call('GET', `/api/v1/history/${old}`);
    expect(archived.json()).toMatchObject({
      runId: old,
      input: { say: 'old' },
      conversation: [expect.anything()],
    });
    const run = await call('GET', `/api/v1/runs/${old}`);
    expect(run.statusCode).toBe(200);
    expect(run.json()).toMatchObject({ id: old, status: 'completed', archived: true });
    expect((await call('GET', `/api/v1/runs/${old}`, otherKey)).statusCode).toBe(404);
    expect((await call('GET', `/api/v1/runs/${newId()}`)).statusCode).toBe(404);
  });

  it('keeps an unfinished run and an unarchived run’s messages, whatever their age', async () => {
    const { agents, workflows } = fx.registry.as(caller);
    const running = await engine.startRun(caller, await workflows.get('talk'), agents, { input: {} });
    await store.handle.db
      .updateTable('workflow_runs')
      .set({ created_at: daysAgo(200), completed_at: daysAgo(200) })
      .where('id', '=', running)
      .execute();
    await pruneRecords(store, engine, { ...DEFAULT_RETENTION, runsDays: 1 });
    expect(
      await store.handle.db.selectFrom('workflow_runs').select('id').where('id', '=', running).execute(),
    ).toHaveLength(1);
    await drain(fx);
  });

  it('gives the pruning slot to one caller per interval', async () => {
    const others =
      dialect === 'postgres' ? await Promise.all([1, 2, 3].map(() => Store.open(testDb.url))) : [];
    try {
      const stores = [store, ...others];
      const now = new Date();
      const claims = await Promise.all(
        [...stores, ...stores].map((s, i) => claimLease(s.handle.db, 'test-job', `holder-${i}`, 60_000, now)),
      );
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(
        await claimLease(store.handle.db, 'test-job', 'late', 60_000, new Date(now.getTime() + 30_000)),
      ).toBe(false);
      expect(
        await claimLease(store.handle.db, 'test-job', 'next', 60_000, new Date(now.getTime() + 60_000)),
      ).toBe(true);
    } finally {
      await Promise.all(others.map((s) => s.close()));
    }
  });
});
