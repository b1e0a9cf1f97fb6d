import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { enqueueTasks } from '../../src/queue/index.js';
import { EXAMPLES_DIR, parseDocument } from '../../src/registry/index.js';
import {
  createLlmRuntime,
  DispatchRuntime,
  DatabaseEventSink,
  LlmRuntime,
  Sleep,
  type AgentInvocation,
  type AgentReport,
  type InvokedAgent,
} from '../../src/runtimes/index.js';
import { openKeyring, SecretsService } from '../../src/secrets/index.js';
import { newId, type LlmProviderKind } from '../../src/storage/index.js';
import { Worker } from '../../src/worker/index.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { DIALECTS } from '../helpers/databases.js';
import { makeContext, type TestContext } from './helpers.js';
import { startFakeLlm, type FakeLlm } from './llm-server.js';

const API_KEY = `sk-test-${randomBytes(12).toString('hex')}`;
const HTTP = { allowPrivateNetworks: true, timeoutMs: 5000, maxResponseBytes: 1 << 20 };

const SUMMARY_SCHEMA = {
  type: 'object',
  required: ['summary'],
  properties: { summary: { type: 'string' } },
};

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(async () => {
  await fake.close();
});

describe.each(DIALECTS)('the llm runtime on %s', (dialect) => {
  let fx: EngineFixture;
  let secrets: SecretsService;
  let runtime: LlmRuntime;
  let taskId: string;

  beforeEach(async () => {
    fx = await engineFixture(dialect);
    const config = loadConfig({
      DATABASE_URL: fx.testDb.url,
      SWARM_HOME: fx.testDb.dir,
      SWARM_MASTER_KEY: randomBytes(32).toString('base64'),
    });
    secrets = new SecretsService(fx.store, openKeyring(config));
    await secrets.set(fx.caller, { name: 'LLM_KEY', value: API_KEY });
    runtime = createLlmRuntime({ store: fx.store, secrets, http: HTTP });
    // A real task for the metrics rows to point at.
    [taskId] = (await enqueueTasks(fx.store.handle.db, fx.store.handle.dialect, [
      { ownerId: fx.caller.userId, taskType: 'llm', input: {}, maxRetries: 0 },
    ])) as [string];
    fake.requests.length = 0;
    fake.failWith = null;
    fake.hang = false;
    fake.reply = 'Hello from the fake model.';
    fake.usage = { input: 12, output: 7 };
  });
  afterEach(async () => {
    await fx.close();
  });

  async function provider(
    name: string,
    kind: LlmProviderKind,
    more: { model?: string; key?: boolean; configuration?: Record<string, unknown> } = {},
  ) {
    const secret = (await fx.store.as(fx.caller).secrets.list()).find((s) => s.name === 'LLM_KEY')!;
    await fx.store.as(fx.caller).llm.setProvider({
      name,
      provider: kind,
      model: more.model ?? null,
      baseUrl: fake.url,
      apiKeySecretId: more.key === false ? null : secret.id,
      active: true,
      isDefault: false,
      configuration: more.configuration ?? { input_cost_per_1k: 0.5, output_cost_per_1k: 1.5 },
    });
  }

  function agent(
    providerName: string,
    more: Omit<Partial<InvokedAgent>, 'runtime'> & { runtime?: Record<string, unknown> } = {},
  ) {
    return {
      name: 'writer',
      version: '1.0.0',
      ...more,
      runtime: {
        type: 'llm',
        provider: providerName,
        model: 'model-a',
        system_prompt: 'You are terse.',
        parameters: { temperature: 0.2, max_tokens: 64 },
        ...more.runtime,
      },
    } as InvokedAgent;
  }

  function invocation(a: InvokedAgent, input: unknown, more: Partial<AgentInvocation> = {}): AgentInvocation {
    return {
      taskId,
      runId: null,
      stepId: 'write',
      ownerId: fx.caller.userId,
      attempt: 1,
      idempotencyKey: 'swarm-test-key',
      agent: a,
      input,
      ...more,
    };
  }

  const metricsRows = () =>
    fx.store.handle.db.selectFrom('metrics').selectAll().where('name', '=', 'llm').execute();

  it('speaks OpenAI chat completions: bearer key from the secret, model, system prompt, parameters, JSON input', async () => {
    await provider('oa', 'openai');
    const context = makeContext();
    const output = await runtime.execute(invocation(agent('oa'), { text: 'abc', n: 2 }), context);
    expect(output).toEqual({ text: 'Hello from the fake model.' });
    const [request] = fake.requests;
    expect(request).toMatchObject({ method: 'POST', path: '/v1/chat/completions' });
    expect(request!.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(request!.body).toEqual({
      model: 'model-a',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: JSON.stringify({ text: 'abc', n: 2 }) },
      ],
      temperature: 0.2,
      max_tokens: 64,
    });
    // Usage: a metrics row with tokens, cost (prices per 1k) and labels.
    const [metric] = await metricsRows();
    expect(metric).toMatchObject({
      owner_id: fx.caller.userId,
      token_usage: 19,
      prompt_tokens: 12,
      completion_tokens: 7,
      provider: 'oa',
      model: 'model-a',
    });
    expect(Number(metric!.token_usage)).toBe(19);
    expect(metric!.estimated_cost).toBeCloseTo((12 / 1000) * 0.5 + (7 / 1000) * 1.5, 9);
    expect(JSON.parse(String(metric!.labels))).toMatchObject({ provider: 'oa', model: 'model-a' });
    expect(context.logs.some((l) => l.message.includes('12 input + 7 output tokens'))).toBe(true);
  });

  it('speaks Anthropic messages: x-api-key, anthropic-version, top-level system, max_tokens always', async () => {
    await provider('claude', 'anthropic');
    const a = agent('claude', { runtime: { parameters: { temperature: 0.5 } } });
    const output = await runtime.execute(invocation(a, { prompt: 'Say hi' }), makeContext());
    expect(output).toEqual({ text: 'Hello from the fake model.' });
    const [request] = fake.requests;
    expect(request!.path).toBe('/v1/messages');
    expect(request!.headers['x-api-key']).toBe(API_KEY);
    expect(request!.headers['anthropic-version']).toBe('2023-06-01');
    expect(request!.headers.authorization).toBeUndefined();
    expect(request!.body).toEqual({
      model: 'model-a',
      system: 'You are terse.',
      messages: [{ role: 'user', content: 'Say hi' }],
      temperature: 0.5,
      max_tokens: 1024,
    });
    expect(await metricsRows()).toHaveLength(1);
  });

  it("speaks Ollama's native /api/chat without a key, max_tokens as num_predict", async () => {
    await provider('local', 'ollama', { key: false });
    const input = {
      messages: [
        { role: 'system', content: 'Answer in French.' },
        { role: 'user', content: 'Hi' },
      ],
    };
    const output = await runtime.execute(invocation(agent('local'), input), makeContext());
    expect(output).toEqual({ text: 'Hello from the fake model.' });
    const [request] = fake.requests;
    expect(request!.path).toBe('/api/chat');
    expect(request!.headers.authorization).toBeUndefined();
    expect(request!.body).toEqual({
      model: 'model-a',
      messages: [
        { role: 'system', content: 'You are terse.\n\nAnswer in French.' },
        { role: 'user', content: 'Hi' },
      ],
      stream: false,
      options: { temperature: 0.2, num_predict: 64 },
    });
  });

  it('uses a custom OpenAI-compatible base URL with a path prefix and the provider default model', async () => {
    const secret = (await fx.store.as(fx.caller).secrets.list())[0]!;
    await fx.store.as(fx.caller).llm.setProvider({
      name: 'proxy',
      provider: 'custom',
      model: 'default-model',
      baseUrl: `${fake.url}/proxy/v1`,
      apiKeySecretId: secret.id,
      active: true,
      isDefault: false,
      configuration: {},
    });
    await runtime.execute(
      invocation(agent('proxy', { runtime: { model: '' } }), 'plain text'),
      makeContext(),
    );
    expect(fake.requests[0]!.path).toBe('/proxy/v1/chat/completions');
    expect(fake.requests[0]!.body).toMatchObject({
      model: 'default-model',
      messages: [expect.anything(), { role: 'user', content: 'plain text' }],
    });
  });

  it('parses and validates JSON output against an object output_schema, tolerating a ```json fence', async () => {
    await provider('oa', 'openai');
    fake.reply = 'Here it is:\n```json\n{"summary": "short"}\n```';
    const a = agent('oa', { outputSchema: SUMMARY_SCHEMA });
    expect(await runtime.execute(invocation(a, { text: 'x' }), makeContext())).toEqual({ summary: 'short' });

    fake.reply = '{"summary": 42}';
    await expect(runtime.execute(invocation(a, { text: 'x' }), makeContext())).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      retryable: false,
      issues: [expect.objectContaining({ field: 'output.summary' })],
    });
    fake.reply = '{"other": "x"}';
    await expect(runtime.execute(invocation(a, { text: 'x' }), makeContext())).rejects.toMatchObject({
      retryable: false,
      message: expect.stringMatching(/^output\.summary: is required/),
    });
    fake.reply = 'not json at all';
    await expect(runtime.execute(invocation(a, { text: 'x' }), makeContext())).rejects.toMatchObject({
      retryable: false,
      message: expect.stringMatching(/^output: .*not JSON/),
    });
  });

  it('treats 429 and 5xx as retryable, 400 and 401 as not, and never shows the key the provider echoes', async () => {
    await provider('oa', 'openai');
    const run = () => runtime.execute(invocation(agent('oa'), { text: 'x' }), makeContext());
    fake.failWith = { status: 429, body: { error: { message: 'Rate limit reached' } } };
    await expect(run()).rejects.toMatchObject({
      code: 'SERVER_UNREACHABLE',
      retryable: true,
      message: expect.stringContaining('HTTP 429'),
      context: expect.objectContaining({ status: 429 }),
    });
    // With Retry-After, the call waits for then: the task sleeps (no attempt spent).
    fake.failWith = {
      status: 429,
      body: { error: { message: 'Rate limit reached' } },
      headers: { 'retry-after': '7' },
    };
    const asked = Date.now();
    const slept = await run();
    expect(slept).toBeInstanceOf(Sleep);
    expect((slept as Sleep).until.getTime() - asked).toBeGreaterThanOrEqual(6900);
    expect((slept as Sleep).state).toMatchObject({ loop: 1, waits: 1, modelCalls: 0 });
    fake.failWith = { status: 503, body: { error: { message: 'overloaded' } } };
    await expect(run()).rejects.toMatchObject({ retryable: true });
    fake.failWith = { status: 400, body: { error: { message: 'max_tokens is too large' } } };
    await expect(run()).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      retryable: false,
      message: expect.stringContaining('max_tokens is too large'),
    });
    fake.failWith = { status: 401, body: { error: { message: `Incorrect API key provided: ${API_KEY}` } } };
    const error = (await run().catch((e: unknown) => e)) as Error & { retryable: boolean };
    expect(error).toMatchObject({ code: 'FORBIDDEN', retryable: false });
    expect(error.message).toContain('[REDACTED:LLM_KEY]');
    expect(JSON.stringify({ ...error, text: error.message })).not.toContain(API_KEY);
    expect(await metricsRows()).toEqual([]);
  });

  it('stops promptly when the context signal aborts, and times out after the policy timeout', async () => {
    await provider('oa', 'openai');
    fake.hang = true;
    const controller = new AbortController();
    const reason = new Error('cancelled by the worker');
    const pending = runtime.execute(
      invocation(agent('oa'), { text: 'x' }),
      makeContext({ signal: controller.signal }),
    );
    setTimeout(() => controller.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);

    const quick = createLlmRuntime({ store: fx.store, secrets, http: { ...HTTP, timeoutMs: 100 } });
    await expect(quick.execute(invocation(agent('oa'), { text: 'x' }), makeContext())).rejects.toMatchObject({
      code: 'SERVER_UNREACHABLE',
      retryable: true,
      message: expect.stringContaining('no answer within 100 ms'),
    });
  });

  it('refuses private base URLs unless the policy allows them', async () => {
    await provider('oa', 'openai');
    const strict = createLlmRuntime({
      store: fx.store,
      secrets,
      http: { ...HTTP, allowPrivateNetworks: false },
    });
    await expect(strict.execute(invocation(agent('oa'), { text: 'x' }), makeContext())).rejects.toMatchObject(
      {
        code: 'FORBIDDEN',
        retryable: false,
        // The provider and the setting that allows it, not builtin/http_request's wording.
        message: expect.stringMatching(
          new RegExp(
            `^LLM provider "oa" .*loopback address; .*SWARM_LLM_ALLOWED_URLS=${new URL(fake.url).origin}`,
          ),
        ),
      },
    );
    expect(fake.requests).toEqual([]);
    // The provider's origin on the allow-list opens that origin alone, not private networks.
    const allowed = createLlmRuntime({
      store: fx.store,
      secrets,
      http: { ...HTTP, allowPrivateNetworks: false },
      allowedUrls: [new URL(fake.url).origin],
    });
    expect(await allowed.execute(invocation(agent('oa'), { text: 'x' }), makeContext())).toEqual({
      text: 'Hello from the fake model.',
    });
    const otherPort = createLlmRuntime({
      store: fx.store,
      secrets,
      http: { ...HTTP, allowPrivateNetworks: false },
      allowedUrls: ['http://127.0.0.1:1'],
    });
    await expect(
      otherPort.execute(invocation(agent('oa'), { text: 'x' }), makeContext()),
    ).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
  });

  it('fails without retry for an unknown provider, and reports usage when no recorder is given', async () => {
    await expect(runtime.execute(invocation(agent('nope'), {}), makeContext())).rejects.toMatchObject({
      code: 'NOT_FOUND',
      retryable: false,
      message: expect.stringContaining('no LLM provider named "nope"'),
    });
    await provider('oa', 'openai');
    const reports: AgentReport[] = [];
    const bare = new LlmRuntime({
      providers: {
        provider: (owner, name) => fx.store.as({ userId: owner, role: 'member' }).llm.provider(name!),
        configuration: async () => null,
      },
      secrets: async (owner, name) => (await secrets.resolve(owner, [name]))[name]!,
      http: HTTP,
    });
    const context: TestContext = { ...makeContext(), report: (item) => reports.push(item) } as TestContext;
    await bare.execute(invocation(agent('oa'), {}), context);
    expect(reports).toEqual([
      {
        kind: 'usage',
        tokens: 19,
        inputTokens: 12,
        outputTokens: 7,
        cost: 0.0165,
        model: 'model-a',
        provider: 'oa',
      },
    ]);
    expect(await metricsRows()).toEqual([]);
  });

  it('runs the example summarizer in a workflow through a real Worker: override, output, metrics and run totals', async () => {
    const manifest = parseDocument(
      fs.readFileSync(path.join(EXAMPLES_DIR, 'agents', 'summarizer', 'agent.yaml'), 'utf8'),
      'yaml',
    );
    const { agent: registered } = await fx.registry.as(fx.caller).agents.register(manifest);
    await provider('local-openai', 'custom', {
      configuration: { input_cost_per_1k: 1, output_cost_per_1k: 2 },
    });
    await fx.registry.as(fx.caller).workflows.apply({
      name: 'summarize',
      version: '1.0.0',
      steps: [{ id: 'sum', agent: 'summarizer@1.0.0', input: { text: '{{ trigger.text }}' } }],
    });
    // The workflow's configuration overrides the agent's model, system prompt and temperature.
    const ids = await fx.store.handle.db
      .selectFrom('workflows')
      .select('id')
      .where('name', '=', 'summarize')
      .executeTakeFirstOrThrow();
    const agentRow = await fx.store.handle.db
      .selectFrom('agents')
      .select('id')
      .where('name', '=', registered.name)
      .executeTakeFirstOrThrow();
    await fx.store.handle.db
      .insertInto('agent_configurations')
      .values({
        id: newId(),
        owner_id: fx.caller.userId,
        agent_id: agentRow.id,
        workflow_id: ids.id,
        parameters: JSON.stringify({ temperature: 0.9 }),
        llm_model: 'override-model',
        system_prompt: 'Override prompt: reply {"summary": "..."}',
      })
      .execute();
    fake.reply = '```json\n{"summary": "A short summary."}\n```';
    const logged: string[] = [];
    const worker = new Worker({
      store: fx.store,
      engine: fx.engine,
      runtime: new DispatchRuntime({ llm: createLlmRuntime({ store: fx.store, secrets, http: HTTP }) }),
      events: new DatabaseEventSink(fx.store),
      logger: pino(
        { level: 'debug' },
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            logged.push(chunk.toString('utf8'));
            done();
          },
        }),
      ),
      secrets,
    });
    worker.start();
    try {
      const { workflows, agents } = fx.registry.as(fx.caller);
      const id = await fx.engine.startRun(fx.caller, await workflows.get('summarize'), agents, {
        input: { text: 'A long text about many things.' },
      });
      worker.notify();
      let view = await fx.engine.getRun(fx.caller, id);
      for (let i = 0; i < 400 && !['completed', 'failed'].includes(view.status); i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        view = await fx.engine.getRun(fx.caller, id);
      }
      expect(view.status, JSON.stringify(view)).toBe('completed');
      expect(view.steps.sum!.output).toEqual({ summary: 'A short summary.' });
      const [request] = fake.requests;
      expect(request!.headers.authorization).toBe(`Bearer ${API_KEY}`);
      expect(request!.body).toEqual({
        model: 'override-model',
        messages: [
          { role: 'system', content: 'Override prompt: reply {"summary": "..."}' },
          { role: 'user', content: JSON.stringify({ text: 'A long text about many things.' }) },
        ],
        temperature: 0.9,
        max_tokens: 512,
      });
      const run = await fx.store.handle.db
        .selectFrom('workflow_runs')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      expect(Number(run.total_api_tokens)).toBe(19);
      expect(run.total_cost).toBeCloseTo(0.012 + 0.014, 9);
      const [metric] = await metricsRows();
      expect(metric).toMatchObject({ run_id: id, agent_id: agentRow.id, model: 'override-model' });
      // The key is nowhere: not in logs, outputs, metrics, or the execution log.
      const stored = JSON.stringify([
        await fx.store.handle.db.selectFrom('execution_logs').selectAll().execute(),
        await fx.store.handle.db.selectFrom('metrics').selectAll().execute(),
        await fx.store.handle.db.selectFrom('tasks').selectAll().execute(),
        await fx.store.handle.db.selectFrom('workflow_runs').selectAll().execute(),
        await fx.store.handle.db.selectFrom('llm_providers').selectAll().execute(),
      ]);
      expect(stored).not.toContain(API_KEY);
      expect(logged.join('')).not.toContain(API_KEY);
      expect(logged.join('')).toContain('override-model');
    } finally {
      await worker.stop(1000);
    }
  });
});
