import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { Engine } from '../../src/engine/index.js';
import { claimTasks, completeTasks, failTask } from '../../src/queue/index.js';
import { buildApp } from '../../src/server/index.js';
import { fromDbJson, Store } from '../../src/storage/index.js';
import { enqueueScheduledTask, withTaskHooks } from '../../src/tasks/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';

describe.each(DIALECTS)('scheduled tasks on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let key: string;
  let other: string;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    key = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!.key;
    other = (await memberWithKey(store, { name: 'Bob', email: 'bob@example.com' }, 'bob')).key;
    app = await buildApp({ store, engine: new Engine(store) });
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, asKey = key) {
    return app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${asKey}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  }

  const nightly = {
    name: 'nightly-report',
    cron: '30 2 * * *',
    timezone: 'america/new_york',
    capability: 'text.summarize',
    input: { topic: 'sales' },
    priority: 7,
  };

  async function row(id: string) {
    return store.handle.db
      .selectFrom('scheduled_tasks')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
  }

  it('creates, lists, shows, pauses, resumes, changes and removes a scheduled task', async () => {
    const created = await call('POST', '/api/v1/scheduled-tasks', nightly);
    expect(created.statusCode).toBe(201);
    const task = created.json();
    expect(task).toMatchObject({
      name: 'nightly-report',
      cron: '30 2 * * *',
      timezone: 'America/New_York',
      capability: 'text.summarize',
      taskType: 'task',
      input: { topic: 'sales' },
      priority: 7,
      timeoutSeconds: 300,
      misfire: 'skip',
      catchUpLimit: 10,
      active: true,
      lastRunAt: null,
      totalRuns: 0,
      successfulRuns: 0,
      failedRuns: 0,
    });
    // 02:30 in New York is 06:30 or 07:30 UTC.
    expect(task.nextRunAt).toMatch(/T0[67]:30:00\.000Z$/);
    expect(Date.parse(task.nextRunAt)).toBeGreaterThan(Date.now());

    expect((await call('GET', '/api/v1/scheduled-tasks')).json().items).toEqual([task]);
    expect((await call('GET', `/api/v1/scheduled-tasks/${task.id}`)).json()).toEqual(task);
    expect((await call('GET', '/api/v1/scheduled-tasks/nightly-report')).json().id).toBe(task.id);

    const paused = await call('PATCH', `/api/v1/scheduled-tasks/${task.id}`, { active: false });
    expect(paused.statusCode).toBe(200);
    expect(paused.json().active).toBe(false);
    // A stale next tick: resuming starts from now.
    await store.handle.db
      .updateTable('scheduled_tasks')
      .set({ next_run_at: '2001-01-01T00:00:00.000Z' })
      .where('id', '=', task.id)
      .execute();
    const resumed = (await call('PATCH', `/api/v1/scheduled-tasks/${task.id}`, { active: true })).json();
    expect(resumed.active).toBe(true);
    expect(Date.parse(resumed.nextRunAt)).toBeGreaterThan(Date.now());

    const changed = (
      await call('PATCH', `/api/v1/scheduled-tasks/${task.id}`, {
        cron: '0 */6 * * *',
        timezone: 'UTC',
        misfire: 'catch_up',
        catchUpLimit: 3,
      })
    ).json();
    expect(changed).toMatchObject({
      cron: '0 */6 * * *',
      timezone: 'UTC',
      misfire: 'catch_up',
      catchUpLimit: 3,
    });
    expect(changed.nextRunAt).toMatch(/T(00|06|12|18):00:00\.000Z$/);

    const duplicate = await call('POST', '/api/v1/scheduled-tasks', nightly);
    expect(duplicate.statusCode).toBe(409);

    expect((await call('GET', `/api/v1/scheduled-tasks/${task.id}`, undefined, other)).statusCode).toBe(404);
    expect((await call('DELETE', `/api/v1/scheduled-tasks/${task.id}`, undefined, other)).statusCode).toBe(
      404,
    );
    expect((await call('GET', '/api/v1/scheduled-tasks', undefined, other)).json().items).toEqual([]);

    expect((await call('DELETE', `/api/v1/scheduled-tasks/${task.id}`)).statusCode).toBe(204);
    expect((await call('GET', `/api/v1/scheduled-tasks/${task.id}`)).statusCode).toBe(404);
  });

  it('refuses bad fields with 400 naming the field, writing nothing', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ cron: 'every day' }, 'cron'],
      [{ cron: '61 * * * *' }, 'cron'],
      [{ timezone: 'Mars/Olympus' }, 'timezone'],
      [{ capability: 'Not A Capability' }, 'capability'],
      [{ name: '-bad' }, 'name'],
      [{ priority: 11 }, 'priority'],
      [{ timeoutSeconds: 0 }, 'timeoutSeconds'],
      [{ misfire: 'later' }, 'misfire'],
      [{ catchUpLimit: 0 }, 'catchUpLimit'],
      [{ cron: undefined }, 'cron'],
      [{ unknown: 1 }, 'unknown'],
    ];
    for (const [change, field] of cases) {
      const res = await call('POST', '/api/v1/scheduled-tasks', { ...nightly, ...change });
      expect(res.statusCode, JSON.stringify(change)).toBe(400);
      expect(res.json().errors[0].field, JSON.stringify(change)).toMatch(new RegExp(`(^|\\.)${field}$`));
    }
    expect(await store.handle.db.selectFrom('scheduled_tasks').selectAll().execute()).toEqual([]);

    const { id } = (await call('POST', '/api/v1/scheduled-tasks', nightly)).json();
    const before = await row(id);
    for (const [change, field] of [
      [{ cron: 'nope' }, 'cron'],
      [{ timezone: 'Nowhere/Land' }, 'timezone'],
      [{ priority: 0 }, 'priority'],
      [{}, 'body'],
    ] as const) {
      const res = await call('PATCH', `/api/v1/scheduled-tasks/${id}`, change);
      expect(res.statusCode, JSON.stringify(change)).toBe(400);
      expect(res.json().errors[0].field).toMatch(new RegExp(field));
    }
    expect(await row(id)).toEqual(before);
  });

  it('enqueues the task of a tick once, as a standalone task, and counts its end', async () => {
    const { id } = (await call('POST', '/api/v1/scheduled-tasks', { ...nightly, timeoutSeconds: 60 })).json();
    const { db, dialect: adapter } = store.handle;
    const tick = new Date('2030-01-01T07:30:00.000Z');
    // The row is read first: on SQLite the pool is one connection, which the transaction holds.
    const enqueue = async (at: Date) => {
      const current = await row(id);
      return adapter.writeTransaction(db, async (trx) => enqueueScheduledTask(trx, adapter, current, at));
    };

    const taskId = await enqueue(tick);
    const task = await db.selectFrom('tasks').selectAll().where('id', '=', taskId).executeTakeFirstOrThrow();
    expect(task).toMatchObject({
      scheduled_task_id: id,
      run_id: null,
      capability_required: 'text.summarize',
      task_type: 'task',
      priority: 7,
      timeout_seconds: 60,
      status: 'PENDING',
    });
    expect(fromDbJson(task.input_data)).toEqual({ topic: 'sales', scheduled_for: tick.toISOString() });
    let schedule = await row(id);
    expect(Number(schedule.total_runs)).toBe(1);
    expect(Date.parse(schedule.last_run_at!)).toBe(tick.getTime());

    // The same tick again is the same task, counted once.
    expect(await enqueue(tick)).toBe(taskId);
    expect(Number((await row(id)).total_runs)).toBe(1);

    // It shows among the caller's standalone tasks.
    const listed = (await call('GET', '/api/v1/tasks')).json().items;
    expect(listed.map((t: { id: string }) => t.id)).toEqual([taskId]);

    const hooks = withTaskHooks({}, store.dialect);
    const second = await enqueue(new Date('2030-01-02T07:30:00.000Z'));
    const third = await enqueue(new Date('2030-01-03T07:30:00.000Z'));
    const fourth = await enqueue(new Date('2030-01-04T07:30:00.000Z'));
    const claimed = await claimTasks(store.handle, { workerId: 'w', limit: 10, leaseMs: 60_000 });
    const lease = (taskId: string) => claimed.find((t) => t.id === taskId)!.leaseEpoch;
    expect(claimed).toHaveLength(4);

    await completeTasks(store.handle, [{ id: taskId, leaseEpoch: lease(taskId), output: 'ok' }], hooks);
    // A failed attempt with retries left does not count yet.
    expect(
      await failTask(store.handle, { id: second, leaseEpoch: lease(second), error: 'flaky' }, hooks),
    ).toBe('retrying');
    expect(
      await failTask(
        store.handle,
        { id: third, leaseEpoch: lease(third), error: 'bad input', retryable: false },
        hooks,
      ),
    ).toBe('failed');
    expect(
      await failTask(
        store.handle,
        { id: fourth, leaseEpoch: lease(fourth), error: 'too slow', timedOut: true, retryable: false },
        hooks,
      ),
    ).toBe('timeout');
    schedule = await row(id);
    expect({
      total: Number(schedule.total_runs),
      ok: Number(schedule.successful_runs),
      failed: Number(schedule.failed_runs),
    }).toEqual({ total: 4, ok: 1, failed: 2 });
    expect((await call('GET', `/api/v1/scheduled-tasks/${id}`)).json()).toMatchObject({
      totalRuns: 4,
      successfulRuns: 1,
      failedRuns: 2,
    });

    // Removing the schedule keeps its tasks.
    await call('DELETE', `/api/v1/scheduled-tasks/${id}`);
    const kept = await db.selectFrom('tasks').select(['id', 'scheduled_task_id']).execute();
    expect(kept).toHaveLength(4);
    expect(kept.every((t) => t.scheduled_task_id === null)).toBe(true);
  });

  it('leaves a non-object input as it is', async () => {
    const { id } = (await call('POST', '/api/v1/scheduled-tasks', { ...nightly, input: ['a', 'b'] })).json();
    const { db, dialect: adapter } = store.handle;
    const current = await row(id);
    const taskId = await adapter.writeTransaction(db, async (trx) =>
      enqueueScheduledTask(trx, adapter, current, new Date('2030-01-01T00:00:00Z')),
    );
    const task = await db
      .selectFrom('tasks')
      .select('input_data')
      .where('id', '=', taskId)
      .executeTakeFirstOrThrow();
    expect(fromDbJson(task.input_data)).toEqual(['a', 'b']);
  });
});
