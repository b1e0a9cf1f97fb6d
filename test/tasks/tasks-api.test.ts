import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { Engine } from '../../src/engine/index.js';
import { claimTasks, completeTasks, failTask, type ClaimedTask } from '../../src/queue/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { DEPENDENCY_FAILED, HELD_UNTIL, withTaskHooks } from '../../src/tasks/index.js';
import { createWorker, type Worker } from '../../src/worker/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';

type Outcome = { output: unknown } | { error: string; retryable?: boolean };

describe.each(DIALECTS)('task API on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let engine: Engine;
  let app: FastifyInstance;
  let key: string;
  let worker: Worker | undefined;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    key = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!.key;
    engine = new Engine(store);
    app = await buildApp({ store, engine, onRunStarted: () => worker?.notify() });
  });
  afterEach(async () => {
    await worker?.stop(1000);
    worker = undefined;
    await app.close();
    await store.close();
    await testDb.drop();
  });

  function call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, asKey = key) {
    return app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${asKey}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  }

  async function submit(body: Record<string, unknown>) {
    const res = await call('POST', '/api/v1/tasks', body);
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as { id: string; [k: string]: unknown };
  }

  /**
   * A worker in the test's hands, as test/engine/helpers.ts drain(): claims through the real
   * queue and reports through the real completion and failure paths, with the engine's hooks
   * and the standalone tasks' hooks, as the worker will once wired (withTaskHooks).
   */
  async function drain(behaviour: (task: ClaimedTask) => Outcome = (t) => ({ output: t.input })) {
    const hooks = withTaskHooks(
      { onCompletedBatch: engine.onTasksCompleted, onFailed: engine.onTaskFailed },
      store.dialect,
    );
    const claimed: ClaimedTask[] = [];
    for (let round = 0; round < 100; round++) {
      const batch = await claimTasks(store.handle, { workerId: 'test', limit: 10, leaseMs: 60_000 });
      if (batch.length === 0) return claimed;
      claimed.push(...batch);
      for (const task of batch) {
        const outcome = behaviour(task);
        if ('output' in outcome)
          await completeTasks(
            store.handle,
            [{ id: task.id, leaseEpoch: task.leaseEpoch, output: outcome.output }],
            hooks,
          );
        else
          await failTask(
            store.handle,
            {
              id: task.id,
              leaseEpoch: task.leaseEpoch,
              error: outcome.error,
              retryable: outcome.retryable ?? false,
            },
            hooks,
          );
      }
    }
    throw new Error('drain did not settle');
  }

  async function until<T>(probe: () => Promise<T | undefined>): Promise<T> {
    for (let i = 0; i < 400; i++) {
      const value = await probe();
      if (value !== undefined) return value;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error('timed out');
  }

  it('runs a builtin/noop task to completion through the in-process worker, and gets and lists it', async () => {
    const config = loadConfig({ DATABASE_URL: testDb.url, SWARM_HOME: testDb.dir });
    worker = createWorker(store, engine, config, pino({ level: 'silent' }), { concurrency: 2 });
    worker.start();
    const task = await submit({ agent: 'builtin/noop', type: 'ping', input: { x: 1 }, priority: 7 });
    expect(task).toMatchObject({
      agent: 'builtin/noop@1.0.0',
      capability: null,
      type: 'ping',
      priority: 7,
      input: { x: 1 },
      is_blocked: false,
      routing_strategy: 'round_robin',
    });
    const done = await until(async () => {
      const got = (await call('GET', `/api/v1/tasks/${task.id}`)).json();
      return ['PENDING', 'RUNNING'].includes(got.status) ? undefined : got;
    });
    expect(done).toMatchObject({ id: task.id, status: 'COMPLETED', result: {}, attempts: 1, error: null });
    expect(done.completed_at).toEqual(expect.any(String));
    expect(done.started_at).toEqual(expect.any(String));

    const list = (await call('GET', '/api/v1/tasks?status=COMPLETED&limit=5')).json();
    expect(list.items.map((t: { id: string }) => t.id)).toEqual([task.id]);
    expect((await call('GET', '/api/v1/tasks?status=FAILED')).json().items).toEqual([]);
    expect((await call('GET', '/api/v1/tasks?status=DONE')).statusCode).toBe(400);
    // Ended: cancelling is a conflict.
    const again = await call('POST', `/api/v1/tasks/${task.id}/cancel`, {});
    expect(again.statusCode).toBe(409);
    expect(again.json().detail).toMatch(/already ended COMPLETED/);
  });

  it('runs dependencies and chains through the real worker, whose hooks release and advance them', async () => {
    const config = loadConfig({ DATABASE_URL: testDb.url, SWARM_HOME: testDb.dir });
    worker = createWorker(store, engine, config, pino({ level: 'silent' }), { concurrency: 4 });
    const first = await submit({ agent: 'builtin/transform', type: 't', input: { n: 1 } });
    const second = await submit({
      agent: 'builtin/transform',
      type: 't',
      input: { n: 2 },
      depends_on: [first.id],
    });
    const chain = (
      await call('POST', '/api/v1/task-chains', {
        steps: [
          { agent: 'builtin/transform', input: { a: 1 } },
          { agent: 'builtin/transform', use_previous_output: true, input: { b: 2 } },
        ],
      })
    ).json();
    worker.start();
    worker.notify();
    const ended = await until(async () => {
      const got = (await call('GET', `/api/v1/task-chains/${chain.id}`)).json();
      return got.status === 'RUNNING' ? undefined : got;
    });
    expect(ended).toMatchObject({ status: 'COMPLETED', result: { a: 1, b: 2 } });
    const dependent = await until(async () => {
      const got = (await call('GET', `/api/v1/tasks/${second.id}`)).json();
      return got.status === 'COMPLETED' ? got : undefined;
    });
    expect(dependent).toMatchObject({ result: { n: 2 }, is_blocked: false });
  });

  it('refuses bad input with 400 naming the field, and writes nothing', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ agent: 'builtin/noop', capability: 'text:summarize' }, 'capability'],
      [{ type: 'x' }, 'agent'],
      [{ agent: 'no-such-agent' }, 'agent'],
      [{ agent: 'builtin/noop@9.9.9' }, 'agent'],
      [{ agent: 'builtin/noop', priority: 11 }, 'body.priority'],
      [{ agent: 'builtin/noop', priority: 'high' }, 'body.priority'],
      [{ agent: 'builtin/noop', timeout_seconds: 0 }, 'body.timeout_seconds'],
      [{ agent: 'builtin/noop', max_retries: -1 }, 'body.max_retries'],
      [{ agent: 'builtin/noop', retry_policy: { backoff: 'cubic' } }, 'body.retry_policy.backoff'],
      [
        { agent: 'builtin/noop', retry_policy: { initial_delay_ms: 5000, max_delay_ms: 10 } },
        'retry_policy.max_delay_ms',
      ],
      [{ agent: 'builtin/noop', routing_strategy: 'best' }, 'body.routing_strategy'],
      [{ capability: 'Not A Capability' }, 'body.capability'],
      [{ agent: 'builtin/noop', expires_at: 'tomorrow' }, 'body.expires_at'],
      [{ agent: 'builtin/noop', depends_on: ['0190aaaa-0000-7000-8000-000000000000'] }, 'depends_on[0]'],
      [{ agent: 'builtin/noop', depends_on: 'x' }, 'body.depends_on'],
      [{ agent: 'builtin/noop', template: 'missing' }, 'template'],
      [{ agent: 'builtin/noop', colour: 'red' }, 'body.colour'],
    ];
    for (const [body, field] of cases) {
      const res = await call('POST', '/api/v1/tasks', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.json().errors[0].field, JSON.stringify(body)).toBe(field);
    }
    expect(await store.handle.db.selectFrom('tasks').selectAll().execute()).toEqual([]);
  });

  it("keeps one owner's tasks, chains and templates from another", async () => {
    const task = await submit({ agent: 'builtin/noop' });
    await call('PUT', '/api/v1/task-templates/mine', { type: 't', agent: 'builtin/noop' });
    const chain = (await call('POST', '/api/v1/task-chains', { steps: [{ agent: 'builtin/noop' }] })).json();
    const other = await memberWithKey(store, { name: 'O', email: 'o@example.com' }, 'o');
    expect((await call('GET', `/api/v1/tasks/${task.id}`, undefined, other.key)).statusCode).toBe(404);
    expect((await call('POST', `/api/v1/tasks/${task.id}/cancel`, {}, other.key)).statusCode).toBe(404);
    expect((await call('GET', '/api/v1/tasks', undefined, other.key)).json().items).toEqual([]);
    expect((await call('GET', `/api/v1/task-chains/${chain.id}`, undefined, other.key)).statusCode).toBe(404);
    expect((await call('GET', '/api/v1/task-templates/mine', undefined, other.key)).statusCode).toBe(404);
    const theirs = await call('POST', '/api/v1/tasks', { template: 'mine' }, other.key);
    expect(theirs.statusCode).toBe(400);
    expect(theirs.json().errors[0].field).toBe('template');
    // Depending on another owner's task is depending on a task that does not exist.
    const dep = await call(
      'POST',
      '/api/v1/tasks',
      { agent: 'builtin/noop', depends_on: [task.id] },
      other.key,
    );
    expect(dep.statusCode).toBe(400);
    expect(dep.json().errors[0].field).toBe('depends_on[0]');
  });

  it('returns the same task for a repeated idempotency key', async () => {
    const first = await submit({ agent: 'builtin/noop', idempotency_key: 'k1' });
    const again = await call('POST', '/api/v1/tasks', {
      agent: 'builtin/noop',
      idempotency_key: 'k1',
      priority: 9,
    });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ id: first.id, priority: 5, idempotency_key: 'k1' });
    const other = await submit({ agent: 'builtin/noop', idempotency_key: 'k2' });
    expect(other.id).not.toBe(first.id);
    expect(await store.handle.db.selectFrom('tasks').select('id').execute()).toHaveLength(2);
  });

  it('cancels a waiting task, and refuses a second cancellation', async () => {
    const task = await submit({
      capability: 'text:summarize',
      retry_policy: { backoff: 'fixed' },
      max_retries: 0,
    });
    expect(task).toMatchObject({
      status: 'PENDING',
      agent: null,
      capability: 'text:summarize',
      max_retries: 0,
      retry_policy: { backoff: 'fixed', initial_delay_ms: 1000, max_delay_ms: 300_000, jitter: true },
    });
    const res = await call('POST', `/api/v1/tasks/${task.id}/cancel`, { reason: 'not needed' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'CANCELLED', cancellation_reason: 'not needed' });
    expect((await call('POST', `/api/v1/tasks/${task.id}/cancel`)).statusCode).toBe(409);
    expect((await call('POST', '/api/v1/tasks/nope/cancel')).statusCode).toBe(404);
    expect(await drain()).toEqual([]);
  });

  it('applies template defaults (the body wins), counts times_used, and lists and deletes templates', async () => {
    const put = await call('PUT', '/api/v1/task-templates/summarise', {
      description: 'd',
      agent: 'builtin/transform',
      type: 'summary',
      input: { lang: 'en', words: 10 },
      priority: 3,
      timeout_seconds: 60,
      max_retries: 1,
    });
    expect(put.statusCode, put.body).toBe(201);
    expect(put.json()).toMatchObject({
      name: 'summarise',
      agent: 'builtin/transform',
      capability: null,
      times_used: 0,
    });
    const bad = await call('PUT', '/api/v1/task-templates/bad', { type: 't', agent: 'nope' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].field).toBe('agent');
    expect(
      (await call('PUT', '/api/v1/task-templates/bad', { agent: 'builtin/noop' })).json().errors[0].field,
    ).toBe('body.type');

    const task = await submit({
      template: 'summarise',
      input: { words: 20 },
      priority: 8,
      idempotency_key: 'once',
    });
    expect(task).toMatchObject({
      agent: 'builtin/transform@1.0.0',
      type: 'summary',
      input: { lang: 'en', words: 20 },
      priority: 8,
      timeout_seconds: 60,
      max_retries: 1,
      template_id: put.json().id,
    });
    // A replay is not a use.
    expect(
      (await call('POST', '/api/v1/tasks', { template: 'summarise', idempotency_key: 'once' })).statusCode,
    ).toBe(200);
    const byCapability = await submit({ template: 'summarise', capability: 'text:summarize' });
    expect(byCapability).toMatchObject({ agent: null, capability: 'text:summarize', type: 'summary' });
    expect((await call('GET', '/api/v1/task-templates/summarise')).json().times_used).toBe(2);

    const replaced = await call('PUT', '/api/v1/task-templates/summarise', {
      type: 'summary',
      capability: 'text:summarize',
    });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json()).toMatchObject({
      agent: null,
      capability: 'text:summarize',
      priority: 5,
      times_used: 2,
    });
    await call('PUT', '/api/v1/task-templates/another', { type: 'x', agent: 'builtin/noop' });
    const list = (await call('GET', '/api/v1/task-templates')).json();
    expect(list.items.map((t: { name: string }) => t.name)).toEqual(['another', 'summarise']);
    expect((await call('DELETE', '/api/v1/task-templates/summarise')).statusCode).toBe(200);
    expect((await call('GET', '/api/v1/task-templates/summarise')).statusCode).toBe(404);
    expect((await call('DELETE', '/api/v1/task-templates/summarise')).statusCode).toBe(404);
    // The tasks it made stay.
    expect((await call('GET', `/api/v1/tasks/${task.id}`)).json().template_id).toBeNull();
  });

  it('accepts a task whose expires_at has passed, and it ends EXPIRED without running', async () => {
    const task = await submit({
      agent: 'builtin/noop',
      expires_at: new Date(Date.now() - 60_000).toISOString(),
    });
    expect(task.status).toBe('PENDING');
    expect(await drain()).toEqual([]);
    const got = (await call('GET', `/api/v1/tasks/${task.id}`)).json();
    expect(got).toMatchObject({ status: 'EXPIRED', error_code: 'EXPIRED', attempts: 0, result: null });
    expect((await call('GET', '/api/v1/tasks?status=EXPIRED')).json().items).toHaveLength(1);
  });

  it('holds a task back until all its dependencies complete', async () => {
    const a = await submit({ agent: 'builtin/transform', input: 'a' });
    const b = await submit({ agent: 'builtin/transform', input: 'b' });
    const c = await submit({ agent: 'builtin/transform', input: 'c', depends_on: [a.id, b.id] });
    expect(c).toMatchObject({
      status: 'PENDING',
      is_blocked: true,
      depends_on: [a.id, b.id],
      blocked_by: [a.id, b.id],
    });
    const row = await store.handle.db
      .selectFrom('tasks')
      .select('run_at')
      .where('id', '=', c.id)
      .executeTakeFirstOrThrow();
    expect(row.run_at).toBe(HELD_UNTIL);

    const order: string[] = [];
    await drain((task) => {
      order.push(task.input as string);
      return { output: task.input };
    });
    expect(order).toEqual(['a', 'b', 'c']);
    expect((await call('GET', `/api/v1/tasks/${c.id}`)).json()).toMatchObject({
      status: 'COMPLETED',
      is_blocked: false,
      blocked_by: [],
      result: 'c',
    });
    // A dependency that already completed does not block.
    const d = await submit({ agent: 'builtin/noop', depends_on: [a.id] });
    expect(d).toMatchObject({ is_blocked: false, blocked_by: [], depends_on: [a.id] });
  });

  it('releases one dependency at a time, and fails dependents of a task that failed for good', async () => {
    const a = await submit({ agent: 'builtin/transform', input: 'a' });
    const b = await submit({ agent: 'builtin/transform', input: 'b', max_retries: 0 });
    const c = await submit({ agent: 'builtin/transform', input: 'c', depends_on: [a.id, b.id] });
    const d = await submit({ agent: 'builtin/transform', input: 'd', depends_on: [c.id] });
    const hooks = withTaskHooks({}, store.dialect);
    const claimed = await claimTasks(store.handle, { workerId: 'w', limit: 10, leaseMs: 60_000 });
    expect(claimed.map((t) => t.id).sort()).toEqual([a.id, b.id].sort());
    const ta = claimed.find((t) => t.id === a.id)!;
    await completeTasks(store.handle, [{ id: a.id, leaseEpoch: ta.leaseEpoch, output: 'A' }], hooks);
    expect((await call('GET', `/api/v1/tasks/${c.id}`)).json()).toMatchObject({
      is_blocked: true,
      blocked_by: [b.id],
    });
    const tb = claimed.find((t) => t.id === b.id)!;
    expect(await failTask(store.handle, { id: b.id, leaseEpoch: tb.leaseEpoch, error: 'boom' }, hooks)).toBe(
      'failed',
    );
    for (const id of [c.id, d.id])
      expect((await call('GET', `/api/v1/tasks/${id}`)).json()).toMatchObject({
        status: 'FAILED',
        error_code: DEPENDENCY_FAILED,
      });
    expect((await call('GET', `/api/v1/tasks/${c.id}`)).json().error).toMatch(
      `dependency ${b.id} ended FAILED`,
    );
    // A task that can never complete cannot be depended on.
    const refused = await call('POST', '/api/v1/tasks', { agent: 'builtin/noop', depends_on: [a.id, b.id] });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().errors[0].field).toBe('depends_on[1]');
    // Cancelling a dependency fails its dependents too.
    const e = await submit({ agent: 'builtin/noop' });
    const f = await submit({ agent: 'builtin/noop', depends_on: [e.id] });
    await call('POST', `/api/v1/tasks/${e.id}/cancel`, {});
    expect((await call('GET', `/api/v1/tasks/${f.id}`)).json()).toMatchObject({
      status: 'FAILED',
      error_code: DEPENDENCY_FAILED,
    });
  });

  it('runs a chain of three builtin/transform steps in order, passing outputs on', async () => {
    const res = await call('POST', '/api/v1/task-chains', {
      name: 'pipeline',
      steps: [
        { name: 'fetch', agent: 'builtin/transform', type: 'fetch', input: { a: 1 } },
        { name: 'enrich', agent: 'builtin/transform', use_previous_output: true, input: { b: 2, a: 0 } },
        { name: 'publish', agent: 'builtin/transform@1.0.0', use_previous_output: true, priority: 9 },
      ],
    });
    expect(res.statusCode, res.body).toBe(201);
    const chain = res.json();
    expect(chain).toMatchObject({
      name: 'pipeline',
      status: 'RUNNING',
      current_step: 0,
      step_results: [{ status: 'PENDING' }],
    });
    const seen: unknown[] = [];
    const claimed = await drain((task) => {
      seen.push(task.input);
      return { output: task.input };
    });
    expect(claimed).toHaveLength(3);
    expect(seen).toEqual([{ a: 1 }, { a: 0, b: 2 }, { a: 0, b: 2 }]);
    expect(claimed[2]!.priority).toBe(9);
    const done = (await call('GET', `/api/v1/task-chains/${chain.id}`)).json();
    expect(done).toMatchObject({
      status: 'COMPLETED',
      current_step: 2,
      result: { a: 0, b: 2 },
      error: null,
      step_results: [
        { status: 'COMPLETED', output: { a: 1 } },
        { status: 'COMPLETED', output: { a: 0, b: 2 } },
        { status: 'COMPLETED', output: { a: 0, b: 2 } },
      ],
    });
    expect(done.completed_at).toEqual(expect.any(String));
    const stepTask = (await call('GET', `/api/v1/tasks/${done.step_results[1].task_id}`)).json();
    expect(stepTask).toMatchObject({ chain_id: chain.id, agent: 'builtin/transform@1.0.0' });
    expect((await call('GET', '/api/v1/task-chains')).json().items.map((c: { id: string }) => c.id)).toEqual([
      chain.id,
    ]);
  });

  it('fails a chain when a step fails for good, and refuses bad chains', async () => {
    const chain = (
      await call('POST', '/api/v1/task-chains', {
        steps: [
          { agent: 'builtin/transform', input: 1 },
          { agent: 'builtin/transform', use_previous_output: true, max_retries: 0 },
          { agent: 'builtin/transform', use_previous_output: true },
        ],
      })
    ).json();
    const claimed = await drain((task) => (task.input === 1 ? { output: 2 } : { error: 'nope' }));
    expect(claimed).toHaveLength(2);
    expect(claimed[1]!.input).toBe(2);
    const failed = (await call('GET', `/api/v1/task-chains/${chain.id}`)).json();
    expect(failed).toMatchObject({
      status: 'FAILED',
      current_step: 1,
      step_results: [
        { status: 'COMPLETED', output: 2 },
        { status: 'FAILED', error: 'nope' },
      ],
    });
    expect(failed.error).toMatch(/step 1 ended FAILED: nope/);

    const bad = await call('POST', '/api/v1/task-chains', {
      steps: [{ agent: 'builtin/noop' }, { agent: 'nope' }, { capability: 'x', agent: 'builtin/noop' }],
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors.map((e: { field: string }) => e.field)).toEqual([
      'steps[1].agent',
      'steps[2].capability',
    ]);
    const first = await call('POST', '/api/v1/task-chains', {
      steps: [{ agent: 'builtin/noop', use_previous_output: true }],
    });
    expect(first.json().errors[0].field).toBe('steps[0].use_previous_output');
    expect((await call('POST', '/api/v1/task-chains', { steps: [] })).json().errors[0].field).toBe(
      'body.steps',
    );
    expect(await store.handle.db.selectFrom('task_chains').select('id').execute()).toHaveLength(1);

    // Cancelling a chain cancels its current step.
    const running = (
      await call('POST', '/api/v1/task-chains', {
        steps: [{ agent: 'builtin/noop' }, { agent: 'builtin/noop' }],
      })
    ).json();
    const cancelled = (await call('POST', `/api/v1/task-chains/${running.id}/cancel`, {})).json();
    expect(cancelled).toMatchObject({ status: 'CANCELLED', step_results: [{ status: 'CANCELLED' }] });
    expect((await call('POST', `/api/v1/task-chains/${running.id}/cancel`, {})).statusCode).toBe(409);
    expect(await drain()).toEqual([]);
  });

  it('ends a chain CANCELLED when its running step is cancelled', async () => {
    const chain = (
      await call('POST', '/api/v1/task-chains', {
        steps: [{ agent: 'builtin/noop' }, { agent: 'builtin/noop' }],
      })
    ).json();
    const stepId = chain.step_results[0].task_id as string;
    await call('POST', `/api/v1/tasks/${stepId}/cancel`, { reason: 'stop' });
    expect((await call('GET', `/api/v1/task-chains/${chain.id}`)).json()).toMatchObject({
      status: 'CANCELLED',
    });
    expect(await drain()).toEqual([]);
  });
});
