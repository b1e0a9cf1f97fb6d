import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { bootstrapAdmin, generateApiKey } from '../../src/auth/index.js';
import { Engine } from '../../src/engine/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';
import { drain, type EngineFixture } from '../engine/helpers.js';

const steps = (c: Record<string, unknown> = {}) => [
  { id: 'a', agent: 'builtin/transform', input: { n: '{{ trigger.n }}' } },
  { id: 'b', agent: 'builtin/transform', needs: ['a'], input: { n: '{{ steps.a.output.n + 1 }}' } },
  { id: 'c', agent: 'builtin/transform', needs: ['b'], input: { n: '{{ steps.b.output.n }}' }, ...c },
];

describe.each(DIALECTS)('POST /runs/{id}/fork on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let engine: Engine;
  let app: FastifyInstance;
  let key: string;
  let started = 0;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    key = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!.key;
    engine = new Engine(store);
    started = 0;
    app = await buildApp({ store, engine, onRunStarted: () => void started++ });
    expect(
      (await call('POST', '/api/v1/workflows', { name: 'w', version: '1.0.0', steps: steps() })).statusCode,
    ).toBe(201);
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
  const settle = () => drain({ store, engine } as unknown as EngineFixture);

  async function finishedRun(): Promise<string> {
    const { id } = (await call('POST', '/api/v1/workflows/w/runs', { input: { n: 1 } })).json();
    await settle();
    return id;
  }

  it('answers 201 with the new run, linked both ways', async () => {
    const original = await finishedRun();
    const res = await call('POST', `/api/v1/runs/${original}/fork`, { fromStep: 'b', input: { n: 5 } });
    expect(res.statusCode).toBe(201);
    const fork = res.json();
    expect(fork).toMatchObject({
      workflow: 'w',
      version: '1.0.0',
      status: 'running',
      parentRunId: original,
      isReplay: true,
      forkedFromStep: 'b',
      originalRunId: original,
      steps: { a: { status: 'completed', reused_from: original }, b: { status: 'running' } },
      trigger: { type: 'manual', data: { n: 5 } },
      forks: [],
    });
    expect(started).toBe(2);
    await settle();
    expect((await call('GET', `/api/v1/runs/${fork.id}`)).json()).toMatchObject({
      status: 'completed',
      result: { c: { n: 2 } },
    });
    const parent = (await call('GET', `/api/v1/runs/${original}`)).json();
    expect(parent).toMatchObject({ isReplay: false, parentRunId: null, forkedFromStep: null });
    expect(parent.forks).toEqual([
      { id: fork.id, status: 'completed', createdAt: expect.any(String), fromStep: 'b', version: '1.0.0' },
    ]);
    // Lists show the link too (not the forks: those are read on the run's own page).
    const listed = (await call('GET', '/api/v1/runs?workflow=w')).json().items;
    expect(listed.find((r: { id: string }) => r.id === fork.id)).toMatchObject({ parentRunId: original });
    expect(listed[0].forks).toBeUndefined();
  });

  it('refuses bad input (400), unknown and foreign runs (404), keys without runs:write (403) and mismatches (409), writing nothing', async () => {
    const original = await finishedRun();
    const count = async () =>
      (await store.handle.db.selectFrom('workflow_runs').select('id').execute()).length;
    const runs = await count();
    const missing = await call('POST', `/api/v1/runs/${original}/fork`, {});
    expect(missing.statusCode).toBe(400);
    expect(missing.json().errors).toEqual([expect.objectContaining({ field: 'body.fromStep' })]);
    const extra = await call('POST', `/api/v1/runs/${original}/fork`, { fromStep: 'b', from: 'b' });
    expect(extra.statusCode).toBe(400);
    const unknown = await call('POST', `/api/v1/runs/${original}/fork`, { fromStep: 'zz' });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(unknown.json()).toMatchObject({ code: 'INPUT_INVALID', errors: [{ field: 'fromStep' }] });
    expect((await call('POST', '/api/v1/runs/no-such-run/fork', { fromStep: 'b' })).statusCode).toBe(404);
    const version = await call('POST', `/api/v1/runs/${original}/fork`, { fromStep: 'b', version: '7.0.0' });
    expect(version.statusCode).toBe(404);
    const { key: otherKey } = await memberWithKey(store, { name: 'M', email: 'm@example.com' }, 'm');
    expect(
      (await call('POST', `/api/v1/runs/${original}/fork`, { fromStep: 'b' }, otherKey)).statusCode,
    ).toBe(404);

    // A key without runs:write.
    const admin = (await store.handle.db
      .selectFrom('users')
      .select(['id', 'role'])
      .executeTakeFirstOrThrow())!;
    const generated = generateApiKey();
    await store
      .as({ userId: admin.id, role: admin.role })
      .apiKeys.create({ name: 'ro', prefix: generated.prefix, hash: generated.hash, scopes: ['runs:read'] });
    const res = await call('POST', `/api/v1/runs/${original}/fork`, { fromStep: 'b' }, generated.key);
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('INSUFFICIENT_SCOPE');
    await call('POST', '/api/v1/workflows', {
      name: 'w',
      version: '2.0.0',
      steps: [{ ...steps()[0], agent: 'builtin/noop', input: {} }, ...steps().slice(1)],
    });
    const mismatch = await call('POST', `/api/v1/runs/${original}/fork`, {
      fromStep: 'c',
      version: 'latest',
    });
    expect(mismatch.statusCode).toBe(409);
    expect(mismatch.json()).toMatchObject({
      code: 'FORK_MISMATCH',
      errors: [{ field: 'steps.a', message: expect.stringMatching(/builtin\/noop/) }],
    });
    expect(await count()).toBe(runs);
  });
});
