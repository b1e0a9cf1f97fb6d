import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { Engine } from '../../src/engine/index.js';
import { claimTasks, completeTasks, failTask } from '../../src/queue/index.js';
import { buildApp } from '../../src/server/index.js';
import { newId, Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';

interface Attempt {
  taskId: string;
  stepId: string;
  runAttempt: number | null;
  itemIndex: number | null;
  attempt: number;
  status: string;
  queuedAt: string;
  startedAt: string | null;
  completedAt: string | null;
  workerId: string | null;
  error: string | null;
}

describe.each(DIALECTS)('GET /api/v1/runs/:id/attempts on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let engine: Engine;
  let app: FastifyInstance;
  let key: string;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    key = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!.key;
    engine = new Engine(store);
    app = await buildApp({ store, engine });
    const workflow = {
      name: 'flaky',
      version: '1.0.0',
      steps: [
        {
          id: 'first',
          agent: 'builtin/transform',
          input: { x: 1 },
          retry: { max_attempts: 2, initial_delay_ms: 1, jitter: false },
        },
        {
          id: 'fan',
          agent: 'builtin/transform',
          for_each: '[1, 2, 3]',
          needs: ['first'],
          input: { v: '{{ item }}' },
        },
      ],
    };
    expect((await call('POST', '/api/v1/workflows', workflow)).statusCode).toBe(201);
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  function call(method: 'GET' | 'POST', url: string, payload?: unknown, asKey = key) {
    return app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${asKey}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  }

  const hooks = () => ({ onCompletedBatch: engine.onTasksCompleted, onFailed: engine.onTaskFailed });
  // Claims as of a moment in the future, so a retry's back-off has passed.
  const later = () => new Date(Date.now() + 60_000);

  async function attempts(runId: string, query = ''): Promise<Attempt[]> {
    const res = await call('GET', `/api/v1/runs/${runId}/attempts${query}`);
    expect(res.statusCode).toBe(200);
    return res.json().items;
  }

  it('lists each claim of each task: a failed attempt, its retry, and fan-out items', async () => {
    const { id } = (await call('POST', '/api/v1/workflows/flaky/runs', {})).json();
    // Not claimed yet: one queued attempt.
    const queued = await attempts(id);
    expect(queued).toEqual([
      expect.objectContaining({
        stepId: 'first',
        attempt: 1,
        status: 'queued',
        startedAt: null,
        workerId: null,
      }),
    ]);

    const [first] = await claimTasks(store.handle, { workerId: 'w-1', limit: 10, leaseMs: 60_000 });
    expect((await attempts(id))[0]).toMatchObject({ status: 'running', workerId: 'w-1', attempt: 1 });
    await failTask(store.handle, { id: first!.id, leaseEpoch: first!.leaseEpoch, error: 'boom' }, hooks(), {
      random: () => 1,
    });
    // Failed once, waiting for its retry.
    const waiting = await attempts(id);
    expect(waiting.map((a) => [a.attempt, a.status])).toEqual([
      [1, 'failed'],
      [2, 'queued'],
    ]);
    expect(waiting[0]!.error).toBe('boom');
    expect(waiting[1]!.queuedAt).toBe(waiting[0]!.completedAt);

    const [retry] = await claimTasks(store.handle, {
      workerId: 'w-2',
      limit: 10,
      leaseMs: 60_000,
      now: later(),
    });
    await completeTasks(
      store.handle,
      [{ id: retry!.id, leaseEpoch: retry!.leaseEpoch, output: { ok: 1 } }],
      hooks(),
    );
    const at = later();
    const items = await claimTasks(store.handle, { workerId: 'w-3', limit: 10, leaseMs: 60_000, now: at });
    expect(items).toHaveLength(3);
    await completeTasks(
      store.handle,
      items.map((t) => ({ id: t.id, leaseEpoch: t.leaseEpoch, output: t.input })),
      hooks(),
      new Date(at.getTime() + 5),
    );

    const all = await attempts(id);
    const firsts = all.filter((a) => a.stepId === 'first');
    expect(firsts.map((a) => [a.attempt, a.status, a.workerId])).toEqual([
      [1, 'failed', 'w-1'],
      [2, 'completed', 'w-2'],
    ]);
    expect(firsts[1]!.error).toBeNull();
    const fan = all.filter((a) => a.stepId === 'fan');
    expect(fan.map((a) => a.itemIndex).sort()).toEqual([0, 1, 2]);
    for (const a of fan) {
      expect(a.status).toBe('completed');
      expect(Date.parse(a.startedAt!)).toBeGreaterThanOrEqual(Date.parse(a.queuedAt));
      expect(Date.parse(a.completedAt!)).toBeGreaterThanOrEqual(Date.parse(a.startedAt!));
    }
    expect((await call('GET', `/api/v1/runs/${id}`)).json().status).toBe('completed');

    // A step filter and pages of tasks.
    expect((await attempts(id, '?step=fan')).map((a) => a.stepId)).toEqual(['fan', 'fan', 'fan']);
    const page = (await call('GET', `/api/v1/runs/${id}/attempts?limit=2`)).json();
    expect(page.items.map((a: Attempt) => a.stepId)).toEqual(['first', 'first', 'fan']);
    const rest = (await call('GET', `/api/v1/runs/${id}/attempts?limit=2&after=${page.next}`)).json();
    expect(rest.items).toHaveLength(2);
    expect(rest.next).toBeNull();

    // Older builds wrote a row for the completing attempt too: it is shown once, not twice.
    await store.handle.db
      .insertInto('worker_assignments')
      .values({
        id: newId(),
        worker_id: 'w-2',
        task_id: retry!.id,
        run_id: id,
        lease_epoch: retry!.leaseEpoch,
        status: 'completed',
        assigned_at: firsts[1]!.startedAt!,
        released_at: firsts[1]!.completedAt,
      })
      .execute();
    const again = (await attempts(id)).filter((a) => a.stepId === 'first');
    expect(again.map((a) => [a.attempt, a.status, a.workerId])).toEqual([
      [1, 'failed', 'w-1'],
      [2, 'completed', 'w-2'],
    ]);
  });

  it("names a retried run's earlier tasks by their run attempt", async () => {
    const { id } = (await call('POST', '/api/v1/workflows/flaky/runs', {})).json();
    await call('POST', `/api/v1/runs/${id}/cancel`, {});
    expect((await attempts(id)).map((a) => [a.stepId, a.status])).toEqual([['first', 'cancelled']]);
    await call('POST', `/api/v1/runs/${id}/retry`);
    const after = await attempts(id);
    expect(after.map((a) => [a.stepId, a.runAttempt, a.status])).toEqual([
      ['first', 1, 'cancelled'],
      ['first', null, 'queued'],
    ]);
  });

  it("answers 404 for another owner's run and an unknown one, 400 for bad parameters", async () => {
    const { id } = (await call('POST', '/api/v1/workflows/flaky/runs', {})).json();
    const other = await memberWithKey(store, { name: 'O', email: 'o@example.com' }, 'o');
    const res = await call('GET', `/api/v1/runs/${id}/attempts`, undefined, other.key);
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('NOT_FOUND');
    expect((await call('GET', '/api/v1/runs/nope/attempts')).statusCode).toBe(404);
    const bad = await call('GET', `/api/v1/runs/${id}/attempts?limit=0`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors).toEqual([expect.objectContaining({ field: 'querystring.limit' })]);
    const unknown = await call('GET', `/api/v1/runs/${id}/attempts?worker=w`);
    expect(unknown.statusCode).toBe(400);
  });
});
