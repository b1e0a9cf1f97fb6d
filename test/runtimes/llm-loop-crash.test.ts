/**
 * The agent loop survives its worker: `kill -9` of the `swarm worker` process after the tool
 * calls completed and while the next model call is in flight. Another worker resumes the loop
 * from its last checkpoint: the model sees that one call again and nothing else twice, and no
 * tool runs twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { until } from '../helpers/until.js';
import { startScriptedModel, type ScriptedModel } from './scripted-model.js';

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli/main.js');

describe.each(DIALECTS)('the agent loop after kill -9 of its worker on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let model: ScriptedModel;
  let store: Store;
  const workers: ChildProcess[] = [];

  async function ok(method: string, route: string, body?: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(`${server.url}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${server.bootstrapped!.key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    expect(res.status, `${method} ${route}: ${text}`).toBeLessThan(300);
    return JSON.parse(text) as Record<string, unknown>;
  }

  function spawnWorker(): ChildProcess {
    const child = spawn(process.execPath, [MAIN, 'worker', '--lease-ms', '1000'], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: testDb.url,
        SWARM_HOME: path.join(testDb.dir, 'home'),
        SWARM_LOG_LEVEL: 'silent',
        SWARM_LLM_ALLOWED_URLS: new URL(model.url).origin,
      },
      stdio: 'ignore',
    });
    workers.push(child);
    return child;
  }

  beforeAll(async () => {
    model = await startScriptedModel();
    testDb = await createTestDatabase(dialect);
    server = await startServer(
      loadConfig({
        DATABASE_URL: testDb.url,
        SWARM_HOME: path.join(testDb.dir, 'home'),
        SWARM_PORT: '0',
        SWARM_LOG_LEVEL: 'silent',
        // Only the spawned `swarm worker` processes run tasks.
        SWARM_WORKER: 'false',
        SWARM_LLM_ALLOWED_URLS: new URL(model.url).origin,
      }),
    );
    store = await Store.open(testDb.url);
  }, 60_000);
  afterAll(async () => {
    for (const child of workers) if (child.exitCode === null) child.kill('SIGKILL');
    await store?.close();
    await server?.close();
    await testDb?.drop();
    await model?.close();
  });

  it('resumes at the last checkpoint on another worker: one repeated model call, no tool run twice', async () => {
    await ok('PUT', '/api/v1/llm-providers/scripted', {
      provider: 'custom',
      base_url: model.url,
      model: 'm',
    });
    await ok('POST', '/api/v1/agents', {
      name: 'durable-looper',
      version: '1.0.0',
      type: 'reasoning',
      capabilities: ['text:research'],
      resources: { memory_mb: 128, timeout_seconds: 60 },
      runtime: {
        type: 'llm',
        provider: 'scripted',
        model: 'm',
        tools: [{ agent: 'word-count@^1' }, { agent: 'echo@^1' }],
      },
    });
    await ok('POST', '/api/v1/workflows', {
      name: 'durable-loop',
      version: '1.0.0',
      steps: [{ id: 'think', agent: 'durable-looper@^1', input: { prompt: 'count and echo' } }],
    });
    model.script = [
      {
        toolCalls: [
          { name: 'word-count', arguments: { text: 'one two' } },
          { name: 'echo', arguments: { x: 1 } },
        ],
      },
      // The second model call hangs: the worker is killed while it is in flight.
      { text: 'done: 2 words', hold: true },
    ];
    const first = spawnWorker();
    const { id } = (await ok('POST', '/api/v1/workflows/durable-loop/runs', { input: {} })) as { id: string };
    await until('the second model call to be in flight', async () => model.requests.length >= 2, 60_000);
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    // The process's exit can be heard before its connection's close: release only after, so the
    // held reply goes back to the script rather than to the dead connection.
    await until("the killed worker's model call to drop", async () => model.heldConnected() === 0, 10_000);
    model.release();

    spawnWorker();
    // Polled in the database: the API key's 60 requests a minute would not last.
    await until(
      `run ${id} to end`,
      async () => {
        const row = await store.handle.db
          .selectFrom('workflow_runs')
          .select('status')
          .where('id', '=', id)
          .executeTakeFirstOrThrow();
        return row.status !== 'running' && row.status !== 'pending';
      },
      60_000,
    );
    const run = await ok('GET', `/api/v1/runs/${id}`);
    expect(run.status, JSON.stringify(run)).toBe('completed');
    expect((run.steps as Record<string, { output: unknown }>).think!.output).toEqual({
      text: 'done: 2 words',
    });

    // Three model calls: the first, the one in flight at the kill, and that one again — with the
    // same conversation (the tools' results, read back from their tasks).
    expect(model.requests).toHaveLength(3);
    expect(model.requests[2]!.body.messages).toEqual(model.requests[1]!.body.messages);
    // Each tool ran once: one child task each, one claim each.
    const parent = await store.handle.db
      .selectFrom('tasks')
      .select(['id', 'retry_count', 'lease_losses'])
      .where('run_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(parent).toMatchObject({ retry_count: 0, lease_losses: 1 });
    const children = await store.handle.db
      .selectFrom('tasks')
      .select(['id', 'status', 'lease_epoch', 'retry_count'])
      .where('parent_task_id', '=', parent.id)
      .execute();
    expect(children).toHaveLength(2);
    for (const child of children)
      expect(child).toMatchObject({ status: 'COMPLETED', lease_epoch: 1, retry_count: 0 });

    // The conversation record holds each turn once: the reply lost with the worker never was
    // committed, so only the one made again is there.
    const talk = (await ok('GET', `/api/v1/runs/${id}/steps/think/conversation`)) as {
      turns: Array<{ role: string; modelCall?: number }>;
    };
    // (This agent has no system prompt.)
    expect(talk.turns.map((t) => t.role)).toEqual(['user', 'assistant', 'tool', 'tool', 'assistant']);
    expect(talk.turns.filter((t) => t.role === 'assistant').map((t) => t.modelCall)).toEqual([1, 2]);
  }, 120_000);
});
