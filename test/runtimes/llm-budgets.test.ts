/**
 * Budgets and provider limits in the scheduler, end to end: a real server and worker and the
 * scripted model. A 429 with Retry-After puts the step to sleep (no attempt spent), a failing
 * primary hands over to a fallback provider, and a run budget stops a loop at the call that
 * would pass it — that call is never sent.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { bearerClient } from '../helpers/api-client.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { until } from '../helpers/until.js';
import { startScriptedModel, type ScriptedModel } from './scripted-model.js';

describe.each(DIALECTS)('budgets and provider limits on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let model: ScriptedModel;
  let key: string;

  const { api, ok } = bearerClient(
    () => `${server.url}`,
    () => key,
  );

  beforeAll(async () => {
    model = await startScriptedModel();
    testDb = await createTestDatabase(dialect);
    server = await startServer(
      loadConfig({
        DATABASE_URL: testDb.url,
        SWARM_HOME: path.join(testDb.dir, 'home'),
        SWARM_PORT: '0',
        SWARM_LOG_LEVEL: 'silent',
        SWARM_LLM_ALLOWED_URLS: new URL(model.url).origin,
        // Low, so one test can reach it (the run budget test's loop starts 2).
        SWARM_MAX_CHILD_TASKS_PER_RUN: '3',
      }),
    );
    key = server.bootstrapped!.key;
    key = (
      await ok('POST', '/api/v1/keys', {
        name: 'budget tests',
        rateLimitPerMinute: 100_000,
        rateLimitPerHour: 1_000_000,
      })
    ).key as string;
    await ok('PUT', '/api/v1/secrets/MODEL_KEY', { value: 'sk-test-not-a-real-key' });
    await ok('PUT', '/api/v1/llm-providers/primary', {
      provider: 'custom',
      base_url: model.url,
      model: 'm-1',
    });
    await ok('PUT', '/api/v1/llm-providers/secondary', {
      provider: 'anthropic',
      base_url: model.url,
      api_key_secret: 'MODEL_KEY',
    });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await testDb?.drop();
    await model?.close();
  });

  let n = 0;
  async function workflow(runtime: Record<string, unknown>, extra: Record<string, unknown> = {}) {
    const name = `spender-${++n}`;
    await ok('POST', '/api/v1/agents', {
      name,
      version: '1.0.0',
      type: 'reasoning',
      capabilities: ['text:think'],
      runtime: { type: 'llm', provider: 'primary', model: 'm-1', ...runtime },
    });
    await ok('POST', '/api/v1/workflows', {
      name: `${name}-flow`,
      version: '1.0.0',
      steps: [{ id: 'think', agent: `${name}@^1`, input: { prompt: 'go' } }],
      ...extra,
    });
    return `${name}-flow`;
  }
  async function runToEnd(flow: string) {
    const { id } = (await ok('POST', `/api/v1/workflows/${flow}/runs`, { input: {} })) as { id: string };
    const run = await until(
      `run ${id} to end`,
      async () => {
        const view = await ok('GET', `/api/v1/runs/${id}`);
        return view.status === 'running' || view.status === 'pending' ? null : view;
      },
      30_000,
    );
    return run as {
      id: string;
      status: string;
      error: string | null;
      steps: Record<string, { output: unknown }>;
    };
  }

  it('sleeps through a 429 with Retry-After: the next call comes 2 s later, on the same attempt', async () => {
    const flow = await workflow({});
    const before = model.requests.length;
    model.script = [{ status: 429, retryAfter: '2' }, { text: 'made it' }];
    const run = await runToEnd(flow);
    expect(run.status, JSON.stringify(run)).toBe('completed');
    expect(run.steps.think!.output).toEqual({ text: 'made it' });
    const calls = model.requests.slice(before);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(2000);
    const attempts = (await ok('GET', `/api/v1/runs/${run.id}/attempts`)).items as { taskId: string }[];
    const task = await ok('GET', `/api/v1/tasks/${attempts[0]!.taskId}`);
    // Claimed twice (before and after the sleep), one attempt spent.
    expect(task.attempts).toBe(1);
  }, 60_000);

  it('falls back to the next provider when the primary fails', async () => {
    const flow = await workflow({ fallbacks: [{ provider: 'secondary', model: 'claude-x' }] });
    const before = model.requests.length;
    model.script = [{ status: 500 }, { text: 'from the fallback' }];
    const run = await runToEnd(flow);
    expect(run.status, JSON.stringify(run)).toBe('completed');
    expect(run.steps.think!.output).toEqual({ text: 'from the fallback' });
    const calls = model.requests.slice(before);
    expect(calls.map((c) => c.path)).toEqual(['/v1/chat/completions', '/v1/messages']);
    expect(calls[1]!.body.model).toBe('claude-x');
    const talk = (await ok('GET', `/api/v1/runs/${run.id}/steps/think/conversation`)) as {
      turns: { role: string; provider?: string }[];
    };
    expect(talk.turns.find((t) => t.role === 'assistant')?.provider).toBe('secondary');
  }, 60_000);

  it('stops a loop at the model call that would pass the run budget, without making it', async () => {
    const flow = await workflow({ tools: [{ agent: 'echo@^1' }] }, { budget: { tokens: 1000 } });
    const before = model.requests.length;
    const echo = (i: number) => ({
      toolCalls: [{ name: 'echo', arguments: { i } }],
      usage: { input: 300, output: 100 },
    });
    model.script = [echo(1), echo(2), echo(3), { text: 'never sent' }];
    const run = await runToEnd(flow);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/budget exceeded: 800 tokens spent.*the run's budget is 1000 tokens/);
    // Two calls made (800 tokens); the third would have needed about 400 more.
    expect(model.requests.length - before).toBe(2);
    model.script = [];
    const spent = await ok('GET', `/api/v1/runs/${run.id}`);
    expect(spent.tokens).toMatchObject({ total: 800 });
  }, 60_000);

  it('fails a step whose tool calls would take its run past the cap on child tasks', async () => {
    const flow = await workflow({ tools: [{ agent: 'echo@^1' }] });
    const two = (i: number) => ({
      toolCalls: [
        { name: 'echo', arguments: { i, j: 1 } },
        { name: 'echo', arguments: { i, j: 2 } },
      ],
    });
    model.script = [two(1), two(2), { text: 'never sent' }];
    const run = await runToEnd(flow);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/has started 2 child tasks .* asks for 2 more; a run may start at most 3/);
    model.script = [];
    const talk = (await ok('GET', `/api/v1/runs/${run.id}/steps/think/conversation`)) as {
      toolCalls: unknown[];
    };
    expect(talk.toolCalls).toHaveLength(2);
  }, 60_000);

  it("stops calls past the owner's daily budget, and refuses bad budgets naming the field", async () => {
    expect((await api('PUT', '/api/v1/budgets/week', { tokens: 5 })).status).toBe(400);
    const zero = await api('PUT', '/api/v1/budgets/day', { tokens: 0 });
    expect(zero.status).toBe(400);
    expect(JSON.stringify(zero.body)).toContain('tokens');
    const empty = await api('PUT', '/api/v1/budgets/day', {});
    expect(empty.status).toBe(400);
    expect((await ok('GET', '/api/v1/budgets')).items).toEqual([]);
    expect((await api('DELETE', '/api/v1/budgets/month')).status).toBe(404);

    // What the tests above spent today is already past 100 tokens.
    const set = await ok('PUT', '/api/v1/budgets/day', { tokens: 100 });
    expect(set).toMatchObject({ period: 'day', tokens: 100, costUsd: null });
    expect((set.spent as { tokens: number }).tokens).toBeGreaterThan(100);
    const flow = await workflow({});
    const before = model.requests.length;
    model.script = [{ text: 'never sent' }];
    const run = await runToEnd(flow);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/the owner's daily budget is 100 tokens/);
    expect(model.requests.length).toBe(before);
    model.script = [];
    expect((await api('DELETE', '/api/v1/budgets/day')).status).toBe(204);
    expect((await ok('GET', '/api/v1/budgets')).items).toEqual([]);
  }, 60_000);

  it('refuses bad fallbacks and rate limits, naming the field', async () => {
    const bad = await api('POST', '/api/v1/agents', {
      name: 'bad-fallback',
      version: '1.0.0',
      type: 'reasoning',
      capabilities: ['x'],
      runtime: { type: 'llm', provider: 'primary', model: 'm', fallbacks: [{ provider: 'Not A Name' }] },
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('runtime.fallbacks[0].provider');
    const limit = await api('PUT', '/api/v1/llm-providers/limited', {
      provider: 'custom',
      base_url: model.url,
      configuration: { requests_per_minute: 0 },
    });
    expect(limit.status).toBe(400);
    expect(JSON.stringify(limit.body)).toContain('configuration.requests_per_minute');
    const budget = await api('POST', '/api/v1/workflows', {
      name: 'bad-budget',
      version: '1.0.0',
      budget: { tokens: -1 },
      steps: [{ id: 'a', agent: 'builtin/noop' }],
    });
    expect(budget.status).toBe(400);
    expect(JSON.stringify(budget.body)).toContain('budget.tokens');
  });
});
