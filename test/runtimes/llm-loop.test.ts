/**
 * The agent loop end to end: a real server and worker, the examples' Python (word-count) and
 * Node (echo) process agents as tools, and a scripted model speaking each provider's wire format.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { bearerClient } from '../helpers/api-client.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { until } from '../helpers/until.js';
import { startScriptedModel, type ScriptedModel } from './scripted-model.js';

const KINDS = ['custom', 'anthropic', 'ollama'] as const;

describe.each(DIALECTS)('the agent loop on %s', (dialect) => {
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
      }),
    );
    key = server.bootstrapped!.key;
    // The bootstrap key's 60 requests a minute would not last the polling of a few runs.
    key = (
      await ok('POST', '/api/v1/keys', {
        name: 'loop tests',
        rateLimitPerMinute: 100_000,
        rateLimitPerHour: 1_000_000,
      })
    ).key as string;
    await ok('PUT', '/api/v1/secrets/MODEL_KEY', { value: 'sk-test-not-a-real-key' });
    for (const kind of KINDS)
      await ok('PUT', `/api/v1/llm-providers/scripted-${kind}`, {
        provider: kind,
        base_url: model.url,
        model: 'scripted-1',
        ...(kind === 'anthropic' ? { api_key_secret: 'MODEL_KEY' } : {}),
      });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await testDb?.drop();
    await model?.close();
  });

  async function loopAgent(kind: (typeof KINDS)[number], extra: Record<string, unknown> = {}) {
    const name = `looper-${kind}-${Math.random().toString(36).slice(2, 8)}`;
    await ok('POST', '/api/v1/agents', {
      name,
      version: '1.0.0',
      type: 'reasoning',
      capabilities: ['text:research'],
      resources: { memory_mb: 128, timeout_seconds: 60 },
      runtime: {
        type: 'llm',
        provider: `scripted-${kind}`,
        model: 'scripted-1',
        system_prompt: 'Use the tools, then answer.',
        tools: [{ agent: 'word-count@^1' }, { agent: 'echo@^1', description: 'Says it back' }],
        ...extra,
      },
    });
    await ok('POST', '/api/v1/workflows', {
      name: `${name}-flow`,
      version: '1.0.0',
      steps: [{ id: 'think', agent: `${name}@^1`, input: { prompt: '{{ trigger.question }}' } }],
    });
    return name;
  }

  async function runToEnd(workflow: string, input: unknown) {
    const { id } = await ok('POST', `/api/v1/workflows/${workflow}/runs`, { input });
    return until(`run ${id} to end`, async () => {
      const view = await ok('GET', `/api/v1/runs/${id}`);
      return view.status === 'running' || view.status === 'pending'
        ? null
        : (view as { status: string; steps: Record<string, { output: unknown }> });
    });
  }

  it.each(KINDS)(
    'runs parallel tool calls as child tasks and answers (%s wire format)',
    async (kind) => {
      const name = await loopAgent(kind);
      const before = model.requests.length;
      model.script = [
        {
          text: 'Let me check.',
          toolCalls: [
            { name: 'word-count', arguments: { text: 'three little words' } },
            { name: 'echo', arguments: { said: 'hi' } },
          ],
        },
        { text: 'It has 3 words, and echo said hi.' },
      ];
      const run = await runToEnd(`${name}-flow`, { question: 'How many words?' });
      expect(run.status, JSON.stringify(run)).toBe('completed');
      expect(run.steps.think!.output).toEqual({ text: 'It has 3 words, and echo said hi.' });

      const calls = model.requests.slice(before);
      expect(calls).toHaveLength(2);
      // The tools were offered, in the provider's shape.
      const offered = calls[0]!.body.tools as Array<{ name?: string; function?: { name: string } }>;
      expect(offered.map((t) => (kind === 'anthropic' ? t.name : t.function?.name))).toEqual([
        'word-count',
        'echo',
      ]);
      // The second call carries both results, from the Python and the Node agent.
      const sent = JSON.stringify(calls[1]!.body.messages);
      expect(sent).toContain('{\\"words\\":3,\\"characters\\":18}');
      expect(sent).toContain('{\\"said\\":\\"hi\\"}');
      if (kind === 'anthropic') expect(sent).toContain('"tool_result"');
      else expect(sent).toContain('"role":"tool"');
    },
    60_000,
  );

  it('records the conversation: every turn once, tokens per model call, the tool calls as tasks', async () => {
    const name = await loopAgent('custom');
    model.script = [
      {
        text: 'Counting.',
        toolCalls: [
          { name: 'word-count', arguments: { text: 'one two' } },
          { name: 'echo', arguments: { said: 'yo' } },
        ],
        usage: { input: 40, output: 10 },
      },
      { text: 'Two words; echo said yo.', usage: { input: 90, output: 7 } },
    ];
    const { id } = await ok('POST', `/api/v1/workflows/${name}-flow/runs`, { input: { question: 'q?' } });
    await until(`run ${id} to complete`, async () =>
      (await ok('GET', `/api/v1/runs/${id}`)).status === 'completed' ? true : null,
    );
    const talk = (await ok('GET', `/api/v1/runs/${id}/steps/think/conversation`)) as {
      turns: Array<Record<string, unknown>>;
      toolCalls: Array<Record<string, unknown>>;
      totals: Record<string, number>;
    };
    expect(talk.turns.map((t) => t.role)).toEqual([
      'system',
      'user',
      'assistant',
      'tool',
      'tool',
      'assistant',
    ]);
    expect(talk.turns.map((t) => t.turn)).toEqual([0, 1, 2, 3, 3, 4]);
    expect(talk.turns[0]).toMatchObject({
      sender: 'swarm',
      content: { text: 'Use the tools, then answer.' },
    });
    expect(talk.turns[1]).toMatchObject({ content: { text: 'q?' } });
    expect(talk.turns[2]).toMatchObject({
      sender: `${name}@1.0.0`,
      modelCall: 1,
      inputTokens: 40,
      outputTokens: 10,
      tokens: 50,
      content: { text: 'Counting.', tool_calls: [{ name: 'word-count' }, { name: 'echo' }] },
    });
    expect(talk.turns[3]).toMatchObject({
      sender: 'tool:word-count',
      type: 'response',
      content: { name: 'word-count', is_error: false, content: '{"words":2,"characters":7}' },
    });
    expect(talk.turns[5]).toMatchObject({
      modelCall: 2,
      tokens: 97,
      content: { text: 'Two words; echo said yo.' },
    });
    expect(talk.totals).toMatchObject({ modelCalls: 2, toolCalls: 2, tokens: 147 });
    expect(talk.toolCalls.map((c) => [c.tool, c.status, c.modelCall])).toEqual([
      ['word-count', 'COMPLETED', 1],
      ['echo', 'COMPLETED', 1],
    ]);
    // Each tool result names the task that answered it.
    expect(talk.turns[3]!.toolTaskId).toBe(talk.toolCalls[0]!.taskId);
    expect(talk.toolCalls[0]!.agent).toMatch(/^word-count@1\./);

    // The run's messages list has them too; another step, or another owner's run, has none.
    const messages = (await ok('GET', `/api/v1/runs/${id}/messages`)).items as unknown[];
    expect(messages).toHaveLength(6);
    expect((await ok('GET', `/api/v1/runs/${id}/steps/other/conversation`)).turns).toEqual([]);
    expect((await api('GET', `/api/v1/runs/not-a-run/steps/think/conversation`)).status).toBe(404);
  }, 60_000);

  it('stops a loop that repeats the same call, with a clear error', async () => {
    const name = await loopAgent('custom', { repeat_limit: 2 });
    const again = { toolCalls: [{ name: 'echo', arguments: { same: true } }] };
    model.script = [again, again, again];
    const run = await runToEnd(`${name}-flow`, { question: 'loop' });
    expect(run.status).toBe('failed');
    expect(JSON.stringify(run)).toMatch(/called echo with the same arguments 2 times in a row/);
  }, 60_000);

  it('refuses a tool that names neither or both of agent and capability, naming the field', async () => {
    const res = await api('POST', '/api/v1/agents', {
      name: 'bad-loop',
      version: '1.0.0',
      type: 'reasoning',
      capabilities: ['x'],
      runtime: {
        type: 'llm',
        provider: 'scripted-custom',
        model: 'm',
        tools: [
          { description: 'nothing' },
          { agent: 'echo@^1', routing: 'fastest' },
          { capability: 'text:count', name: 'count', routing: 'sideways' },
        ],
        max_turns: 0,
      },
    });
    expect(res.status).toBe(400);
    const text = JSON.stringify(res.body);
    expect(text).toContain('runtime.tools[0]');
    expect(text).toContain('runtime.tools[1].routing');
    expect(text).toContain('runtime.tools[2].routing');
    expect(text).toContain('runtime.max_turns');
  });
});
