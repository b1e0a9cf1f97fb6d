import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { Engine } from '../../src/engine/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';

describe.each(DIALECTS)('runs API on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let key: string;
  let started = 0;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    key = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!.key;
    started = 0;
    app = await buildApp({ store, engine: new Engine(store), onRunStarted: () => void started++ });
    const workflow = {
      name: 'hello',
      version: '1.0.0',
      steps: [{ id: 'a', agent: 'builtin/transform', input: { who: '{{ trigger.who }}' } }],
    };
    expect((await call('POST', '/api/v1/workflows', workflow)).statusCode).toBe(201);
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  function call(method: 'GET' | 'POST' | 'PATCH', url: string, payload?: unknown, asKey = key) {
    return app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${asKey}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  }

  it('starts a run with input, answers 202 with its id, and wakes the worker', async () => {
    const res = await call('POST', '/api/v1/workflows/hello/runs', { input: { who: 'Ada' } });
    expect(res.statusCode).toBe(202);
    const { id, run } = res.json();
    expect(run).toMatchObject({
      id,
      workflow: 'hello',
      version: '1.0.0',
      status: 'running',
      steps: { a: { status: 'running' } },
    });
    // A manual run records who started it.
    const me = (await call('GET', '/api/v1/me')).json();
    expect(run.trigger).toEqual({ type: 'manual', id: null, startedBy: me.id, data: { who: 'Ada' } });
    expect(started).toBe(1);
    const task = await store.handle.db
      .selectFrom('tasks')
      .selectAll()
      .where('run_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(JSON.parse(task.input_data)).toEqual({ who: 'Ada' });
    expect((await call('GET', `/api/v1/runs/${id}`)).json()).toMatchObject({ id, status: 'running' });
  });

  it('refuses unknown workflows, versions and fields, and a disabled workflow', async () => {
    expect((await call('POST', '/api/v1/workflows/nope/runs', {})).statusCode).toBe(404);
    expect((await call('POST', '/api/v1/workflows/hello/runs', { version: '9.9.9' })).statusCode).toBe(404);
    const extra = await call('POST', '/api/v1/workflows/hello/runs', { inputs: {} });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().errors).toEqual([expect.objectContaining({ field: 'body.inputs' })]);
    await call('PATCH', '/api/v1/workflows/hello', { enabled: false });
    const disabled = await call('POST', '/api/v1/workflows/hello/runs', {});
    expect(disabled.statusCode).toBe(409);
    expect(disabled.json().detail).toMatch(/disabled/);
    expect(await store.handle.db.selectFrom('workflow_runs').selectAll().execute()).toEqual([]);
  });

  it('lists, cancels and retries runs, refusing what does not apply', async () => {
    const { id } = (await call('POST', '/api/v1/workflows/hello/runs', { input: { who: 'A' } })).json();
    const list = await call('GET', '/api/v1/runs?workflow=hello&status=running&limit=5');
    expect(list.json().items.map((r: { id: string }) => r.id)).toEqual([id]);
    expect((await call('GET', '/api/v1/runs?status=sleeping')).statusCode).toBe(400);
    expect((await call('GET', '/api/v1/runs?limit=0')).statusCode).toBe(400);
    expect((await call('POST', `/api/v1/runs/${id}/retry`)).statusCode).toBe(409);
    const cancelled = await call('POST', `/api/v1/runs/${id}/cancel`, { reason: 'test' });
    expect(cancelled.json()).toMatchObject({ id, status: 'cancelled' });
    expect((await call('POST', `/api/v1/runs/${id}/cancel`, {})).statusCode).toBe(409);
    const refused = await call('POST', `/api/v1/runs/${id}/retry`, { fromFailed: 1 });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().errors).toEqual([expect.objectContaining({ field: 'body.fromFailed' })]);
    // No body: every step again, from the start (`{fromFailed: true}` keeps completed steps).
    const retried = await call('POST', `/api/v1/runs/${id}/retry`);
    expect(retried.json()).toMatchObject({
      id,
      status: 'running',
      attempt: 2,
      steps: { a: { status: 'running' } },
    });
    await call('POST', `/api/v1/runs/${id}/cancel`, {});
    const fromFailed = await call('POST', `/api/v1/runs/${id}/retry`, { fromFailed: true });
    expect(fromFailed.json()).toMatchObject({ id, status: 'running', attempt: 3 });
    expect((await call('POST', '/api/v1/runs/nope/cancel', {})).statusCode).toBe(404);
  });

  it("keeps one user's runs from another's key", async () => {
    const { id } = (await call('POST', '/api/v1/workflows/hello/runs', {})).json();
    const generated = await memberWithKey(store, { name: 'O', email: 'o@example.com' }, 'o');
    expect((await call('GET', `/api/v1/runs/${id}`, undefined, generated.key)).statusCode).toBe(404);
    expect((await call('POST', '/api/v1/workflows/hello/runs', {}, generated.key)).statusCode).toBe(404);
  });
});
