import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { Engine, RunLogs, type LogView } from '../../src/engine/index.js';
import { Registry } from '../../src/registry/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { drain, type Behaviour, type EngineFixture } from '../engine/helpers.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';

/** Completes step `a`, fails step `b` (not retryable). */
const failB: Behaviour = (task) =>
  task.stepId === 'b' ? { error: 'b broke', retryable: false } : { output: { from: task.stepId } };

describe.each(DIALECTS)('run logs and retry modes over the API on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let key: string;
  let fx: EngineFixture;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    const admin = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!;
    key = admin.key;
    const engine = new Engine(store);
    app = await buildApp({ store, engine });
    // The test drives the queue itself (no worker), so every state is the one it made.
    fx = {
      testDb,
      store,
      engine,
      registry: new Registry(store),
      caller: { userId: admin.user.id, role: admin.user.role },
      close: async () => {},
    };
    const pair = {
      name: 'pair',
      version: '1.0.0',
      steps: [
        { id: 'a', agent: 'builtin/transform', input: { x: 1 } },
        { id: 'b', agent: 'builtin/transform', needs: ['a'], input: { y: '{{ steps.a.output }}' } },
      ],
    };
    expect((await call('POST', '/api/v1/workflows', pair)).statusCode).toBe(201);
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

  async function logs(id: string, query = ''): Promise<LogView[]> {
    const res = await call('GET', `/api/v1/runs/${id}/logs${query}`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json().items as LogView[];
  }

  async function start(): Promise<string> {
    const res = await call('POST', '/api/v1/workflows/pair/runs', {});
    expect(res.statusCode).toBe(202);
    return res.json().id as string;
  }

  it("pages through a run's log with the after cursor, oldest first", async () => {
    const id = await start();
    await drain(fx);
    const all = await logs(id, '?limit=999');
    expect(all.map((l) => l.message)).toEqual([
      expect.stringMatching(/^run started: pair@1\.0\.0/),
      'step a running',
      'step a completed',
      'step b running',
      'step b completed',
      'run completed',
    ]);
    expect(all[1]).toEqual({
      id: expect.any(String),
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      level: 'info',
      eventType: 'state_change',
      stepId: 'a',
      taskId: null,
      message: 'step a running',
      metadata: {},
    });
    expect([...all.map((l) => l.id)].sort()).toEqual(all.map((l) => l.id));
    // Page by page: two at a time, each page after the last id of the one before.
    const paged: LogView[] = [];
    let after = '';
    for (let page = 0; page < 10; page++) {
      const items = await logs(id, `?limit=2${after === '' ? '' : `&after=${after}`}`);
      paged.push(...items);
      if (items.length < 2) break;
      after = items.at(-1)!.id;
    }
    expect(paged).toEqual(all);
    expect(await logs(id, `?after=${all.at(-1)!.id}`)).toEqual([]);
    // A cursor in capitals is the same cursor.
    expect(await logs(id, `?after=${all[3]!.id.toUpperCase()}`)).toEqual(all.slice(4));
    // The default page is 100 lines.
    expect(await logs(id)).toEqual(all);
  });

  it('filters by step and by level (that level or a more severe one)', async () => {
    const id = await start();
    await drain(fx, failB);
    expect((await call('GET', `/api/v1/runs/${id}`)).json()).toMatchObject({ status: 'failed' });
    const byStep = await logs(id, '?step=b');
    expect(byStep.map((l) => l.message)).toEqual(['step b running', 'step b failed: step b failed: b broke']);
    expect(await logs(id, '?step=nope')).toEqual([]);
    const errors = await logs(id, '?level=error');
    expect(errors.map((l) => [l.level, l.stepId])).toEqual([
      ['error', 'b'],
      ['error', null],
    ]);
    expect(await logs(id, '?level=warning')).toEqual(errors);
    expect(await logs(id, '?level=critical')).toEqual([]);
    expect(await logs(id, '?level=debug')).toHaveLength((await logs(id)).length);
    expect(await logs(id, '?level=error&step=b')).toEqual([errors[0]]);
  });

  it("answers 404 for another owner's run and for an unknown one", async () => {
    const id = await start();
    const other = await memberWithKey(store, { name: 'O', email: 'o@example.com' }, 'o');
    const res = await call('GET', `/api/v1/runs/${id}/logs`, undefined, other.key);
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ code: 'NOT_FOUND', detail: `run not found: ${id}` });
    expect((await call('GET', '/api/v1/runs/nope/logs')).statusCode).toBe(404);
  });

  it.each([
    ['?limit=0', 'querystring.limit'],
    ['?limit=1000', 'querystring.limit'],
    ['?limit=ten', 'querystring.limit'],
    ['?after=42', 'querystring.after'],
    ['?level=loud', 'querystring.level'],
    ['?step=', 'querystring.step'],
    ['?since=1', 'querystring.since'],
  ])('refuses %s with a 400 naming %s', async (query, field) => {
    const id = await start();
    const res = await call('GET', `/api/v1/runs/${id}/logs${query}`);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json().errors).toEqual([expect.objectContaining({ field })]);
  });

  it('follows a log with a tail that also gives a line committed late (a lower id), once', async () => {
    const id = await start();
    const tail = new RunLogs(store).tail(fx.caller, id);
    const first = await tail.next();
    expect(first.map((l) => l.message)).toEqual([expect.stringMatching(/^run started/), 'step a running']);
    expect(await tail.next()).toEqual([]);
    await drain(fx);
    const more = await tail.next();
    expect(more.map((l) => l.message)).toEqual([
      'step a completed',
      'step b running',
      'step b completed',
      'run completed',
    ]);
    // Another process, a millisecond behind, commits a line below the newest id given.
    const newest = more.at(-1)!.id;
    const ms = parseInt(newest.slice(0, 8) + newest.slice(9, 13), 16) - 1;
    const hex = ms.toString(16).padStart(12, '0');
    const lateId = `${hex.slice(0, 8)}-${hex.slice(8)}-7fff-bfff-ffffffffffff`;
    expect(lateId < newest).toBe(true);
    await store.handle.db
      .insertInto('execution_logs')
      .values({ id: lateId, owner_id: fx.caller.userId, run_id: id, message: 'late', level: 'warning' })
      .execute();
    expect((await tail.next()).map((l) => [l.id, l.message])).toEqual([[lateId, 'late']]);
    expect(await tail.next()).toEqual([]);
    // A reader resuming after the newest id never gets what lies below its cursor.
    const resumed = new RunLogs(store).tail(fx.caller, id, { after: newest });
    expect(await resumed.next()).toEqual([]);
    expect(await resumed.next()).toEqual([]);
  });

  it('retries from the start by default, and only the failed and unreached steps with fromFailed', async () => {
    const id = await start();
    await drain(fx, failB);
    const failed = (await call('GET', `/api/v1/runs/${id}`)).json();
    expect(failed).toMatchObject({ status: 'failed', errorStep: 'b', steps: { a: { status: 'completed' } } });

    const bad = await call('POST', `/api/v1/runs/${id}/retry`, { fromFailed: 'yes' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors).toEqual([expect.objectContaining({ field: 'body.fromFailed' })]);
    const extra = await call('POST', `/api/v1/runs/${id}/retry`, { from: 'failed' });
    expect(extra.json().errors).toEqual([expect.objectContaining({ field: 'body.from' })]);

    const fromFailed = await call('POST', `/api/v1/runs/${id}/retry`, { fromFailed: true });
    expect(fromFailed.statusCode).toBe(200);
    expect(fromFailed.json()).toMatchObject({
      status: 'running',
      attempt: 2,
      steps: {
        a: { status: 'completed', output: { from: 'a' }, completed_at: failed.steps.a.completed_at },
        b: { status: 'running' },
      },
    });
    await drain(fx, failB);

    const again = await call('POST', `/api/v1/runs/${id}/retry`, { fromFailed: false });
    expect(again.json()).toMatchObject({
      status: 'running',
      attempt: 3,
      steps: { a: { status: 'running' }, b: { status: 'pending' } },
    });
    expect(again.json().steps.a.output).toBeUndefined();
    await drain(fx, failB);
    // No body at all is the default: from the start.
    const bare = await call('POST', `/api/v1/runs/${id}/retry`);
    expect(bare.json()).toMatchObject({ attempt: 4, steps: { a: { status: 'running' } } });
    await drain(fx);
    expect((await call('GET', `/api/v1/runs/${id}`)).json()).toMatchObject({ status: 'completed' });
    const stepA = await logs(id, '?step=a');
    // Attempt 1 ran a, attempt 2 kept it, attempts 3 and 4 ran it again.
    expect(stepA.filter((l) => l.message === 'step a running')).toHaveLength(3);
  });
});
