/**
 * The pull model over the API: a remote (http) agent claims its owner's tasks for its name or
 * capabilities, renews the lease, and reports results, which move runs on through the same hooks
 * as the in-process worker's (no worker runs here: only the pull agent takes the work).
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { isBlobReference } from '../../src/blobs/index.js';
import { Engine } from '../../src/engine/index.js';
import { manifestSigningPayload } from '../../src/registry/agent/index.js';
import { Registry } from '../../src/registry/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store, type Caller } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';
import { validOf } from '../registry/agent/helpers.js';

interface PulledTask {
  id: string;
  lease_epoch: number;
  input: unknown;
  step_id: string | null;
  run_id: string | null;
  attempt: number;
  timeout_seconds: number | null;
}

describe.each(DIALECTS)('pull agents over the API on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let engine: Engine;
  let registry: Registry;
  let caller: Caller;
  let key: string;
  let otherKey: string;
  let app: FastifyInstance;
  const keys = generateKeyPairSync('ed25519');
  const publicKey = keys.publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64');

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    engine = new Engine(store);
    registry = new Registry(store);
    const boot = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!;
    key = boot.key;
    caller = { userId: boot.user.id, role: boot.user.role };
    otherKey = (await memberWithKey(store, { name: 'Mallory', email: 'm@example.com' }, 'm')).key;
    app = await buildApp({ store, engine });
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  const call = (url: string, payload: unknown, as = key) =>
    app.inject({
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${as}` },
      payload: payload as object,
    });

  async function registerAgent(name: string, capabilities: string[], asKey = key): Promise<void> {
    const doc = {
      name,
      version: '1.0.0',
      type: 'execution',
      capabilities,
      runtime: { type: 'http', endpoint: 'https://agent.example.com/task', public_key: publicKey },
    };
    const signature = sign(null, manifestSigningPayload(validOf(doc)), keys.privateKey).toString('base64');
    const res = await call('/api/v1/agents', { ...doc, runtime: { ...doc.runtime, signature } }, asKey);
    expect(res.statusCode, res.body).toBe(201);
  }

  async function startRun(step: Record<string, unknown>, input: unknown = { text: 'hi' }): Promise<string> {
    await registry.as(caller).workflows.apply({
      name: 'w',
      version: '1.0.0',
      steps: [
        { id: 'only', input, retry: { max_attempts: 3, backoff: 'fixed', initial_delay_ms: 100 }, ...step },
      ],
    });
    const { workflows, agents } = registry.as(caller);
    return engine.startRun(caller, await workflows.get('w'), agents, { input });
  }

  async function claim(name: string, body: unknown = {}, as = key) {
    const res = await call(`/api/v1/agents/${name}/claim`, body, as);
    return { res, tasks: res.statusCode === 200 ? res.json<{ tasks: PulledTask[] }>().tasks : [] };
  }

  const taskRow = (id: string) =>
    store.handle.db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  it('claims a step naming the agent, renews it, reports the output, and the run completes', async () => {
    await registerAgent('puller', ['pull:echo']);
    const runId = await startRun({ agent: 'puller@1.0.0' });
    const { res, tasks } = await claim('puller', { limit: 5, lease_ms: 5000 });
    expect(res.statusCode, res.body).toBe(200);
    expect(tasks).toHaveLength(1);
    const task = tasks[0]!;
    expect(task).toMatchObject({ run_id: runId, step_id: 'only', attempt: 1, input: { text: 'hi' } });
    const agent = await store.handle.db
      .selectFrom('agents')
      .select(['id', 'last_seen_at'])
      .where('name', '=', 'puller')
      .executeTakeFirstOrThrow();
    expect(agent.last_seen_at).not.toBeNull();
    expect(await taskRow(task.id)).toMatchObject({ status: 'RUNNING', assigned_agent_id: agent.id });
    // Nothing more to claim.
    expect((await claim('puller')).tasks).toEqual([]);

    const beat = await call(`/api/v1/tasks/${task.id}/heartbeat`, {
      lease_epoch: task.lease_epoch,
      lease_ms: 30_000,
    });
    expect(beat.statusCode, beat.body).toBe(200);
    expect(Date.parse(beat.json<{ locked_until: string }>().locked_until)).toBeGreaterThan(
      Date.now() + 20_000,
    );

    const done = await call(`/api/v1/tasks/${task.id}/result`, {
      lease_epoch: task.lease_epoch,
      output: { echo: 'hi' },
    });
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json()).toEqual({ status: 'completed' });
    const view = await engine.getRun(caller, runId);
    expect(view).toMatchObject({ status: 'completed', result: { only: { echo: 'hi' } } });
    const counted = await store.handle.db
      .selectFrom('agents')
      .select('total_tasks_completed')
      .where('id', '=', agent.id)
      .executeTakeFirstOrThrow();
    expect(counted.total_tasks_completed).toBe(1);

    // Reported again (the same lease): refused, recorded once.
    const again = await call(`/api/v1/tasks/${task.id}/result`, {
      lease_epoch: task.lease_epoch,
      output: { echo: 'x' },
    });
    expect(again.statusCode).toBe(409);
    expect(again.headers['content-type']).toContain('application/problem+json');
    expect(fromJson((await taskRow(task.id)).result_data)).toEqual({ echo: 'hi' });
    const beatAfter = await call(`/api/v1/tasks/${task.id}/heartbeat`, { lease_epoch: task.lease_epoch });
    expect(beatAfter.statusCode).toBe(409);
  });

  it('claims a step by capability and refuses a stale lease epoch with 409, recording nothing', async () => {
    await registerAgent('capper', ['pull:summarize']);
    const runId = await startRun({ capability: 'pull:summarize' });
    const { tasks } = await claim('capper');
    expect(tasks).toHaveLength(1);
    const task = tasks[0]!;
    const stale = await call(`/api/v1/tasks/${task.id}/result`, {
      lease_epoch: task.lease_epoch - 1,
      output: 1,
    });
    expect(stale.statusCode, stale.body).toBe(409);
    expect(stale.headers['content-type']).toContain('application/problem+json');
    const staleBeat = await call(`/api/v1/tasks/${task.id}/heartbeat`, { lease_epoch: task.lease_epoch + 1 });
    expect(staleBeat.statusCode).toBe(409);
    expect(await taskRow(task.id)).toMatchObject({ status: 'RUNNING', result_data: null });
    expect((await engine.getRun(caller, runId)).status).toBe('running');

    const ok = await call(`/api/v1/tasks/${task.id}/result`, { lease_epoch: task.lease_epoch, output: 2 });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(await engine.getRun(caller, runId)).toMatchObject({ status: 'completed', result: { only: 2 } });
  });

  it('fails the step on an error result with retryable=false, and retries on a retryable one', async () => {
    await registerAgent('puller', ['pull:echo']);
    const runId = await startRun({ agent: 'puller@1.0.0' });
    const first = (await claim('puller')).tasks[0]!;
    const retry = await call(`/api/v1/tasks/${first.id}/result`, {
      lease_epoch: first.lease_epoch,
      error: 'flaky',
    });
    expect(retry.statusCode, retry.body).toBe(200);
    expect(retry.json()).toEqual({ status: 'retrying' });
    expect(await taskRow(first.id)).toMatchObject({ status: 'PENDING', retry_count: 1, last_error: 'flaky' });

    await new Promise((resolve) => setTimeout(resolve, 300));
    const second = (await claim('puller')).tasks[0]!;
    expect(second).toMatchObject({ id: first.id, attempt: 2 });
    const failed = await call(`/api/v1/tasks/${second.id}/result`, {
      lease_epoch: second.lease_epoch,
      error: 'bad input',
      retryable: false,
    });
    expect(failed.statusCode, failed.body).toBe(200);
    expect(failed.json()).toEqual({ status: 'failed' });
    expect(await taskRow(second.id)).toMatchObject({ status: 'FAILED', error_message: 'bad input' });
    expect((await engine.getRun(caller, runId)).status).toBe('failed');

    const both = await call(`/api/v1/tasks/${second.id}/result`, {
      lease_epoch: second.lease_epoch,
      error: 'e',
      output: 1,
    });
    expect(both.statusCode).toBe(400);
  });

  it("keeps owners apart: another user's key can neither claim nor report, and unknown agents are 404", async () => {
    await registerAgent('puller', ['pull:echo']);
    await registerAgent('puller', ['pull:echo'], otherKey);
    await startRun({ agent: 'puller@1.0.0' });
    // The other user's own agent of the same name sees none of the admin's tasks.
    const foreign = await claim('puller', {}, otherKey);
    expect(foreign.res.statusCode, foreign.res.body).toBe(200);
    expect(foreign.tasks).toEqual([]);
    expect((await claim('nobody')).res.statusCode).toBe(404);

    const task = (await claim('puller')).tasks[0]!;
    const report = await call(
      `/api/v1/tasks/${task.id}/result`,
      { lease_epoch: task.lease_epoch, output: 1 },
      otherKey,
    );
    expect(report.statusCode).toBe(404);
    const beat = await call(
      `/api/v1/tasks/${task.id}/heartbeat`,
      { lease_epoch: task.lease_epoch },
      otherKey,
    );
    expect(beat.statusCode).toBe(404);
    expect(await taskRow(task.id)).toMatchObject({ status: 'RUNNING', result_data: null });
    const bad = await call('/api/v1/agents/puller/claim', { limit: 101 });
    expect(bad.statusCode).toBe(400);
  });

  it('hands a pull agent a large input whole and stores its large output as a blob (docs/payloads.md)', async () => {
    await registerAgent('bulky', ['pull:bulky']);
    const input = { text: 'in '.repeat(40_000) };
    const runId = await startRun({ agent: 'bulky@1.0.0' }, input);
    const [task] = (await claim('bulky')).tasks;
    expect(task!.input).toEqual(input);
    expect(isBlobReference(JSON.parse((await taskRow(task!.id)).input_data))).toBe(true);
    const output = { rows: Array.from({ length: 8000 }, (_, i) => ({ i, out: 'row' })) };
    const done = await call(`/api/v1/tasks/${task!.id}/result`, { lease_epoch: task!.lease_epoch, output });
    expect(done.statusCode, done.body).toBe(200);
    expect(isBlobReference(JSON.parse((await taskRow(task!.id)).result_data!))).toBe(true);
    expect(await engine.getRun(caller, runId)).toMatchObject({
      status: 'completed',
      result: { only: output },
    });
  });
});

function fromJson(text: string | null): unknown {
  return text === null ? null : (JSON.parse(text) as unknown);
}
