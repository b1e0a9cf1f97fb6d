/**
 * MCP tools as tasks (issue 15, item 3), end to end with a real server, worker and test MCP
 * server: workflow steps `agent: mcp/<server>/<tool>` over stdio (in the process sandbox) and
 * HTTP, an isError result failing its step without retries, a killed stdio server started again
 * by the pool, secrets passed as env and redacted from outputs, and an LLM agent loop calling an
 * MCP tool and a Python process agent in parallel.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { bearerClient } from '../helpers/api-client.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { until } from '../helpers/until.js';
import { startScriptedModel, type ScriptedModel } from '../runtimes/scripted-model.js';
import {
  anyProcessNaming,
  callsFile,
  readCalls,
  startHttpFixture,
  stdioServer,
  stdioServerPids,
  type HttpFixture,
} from './helpers.js';

const SECRET = `s3cr3t-${randomBytes(12).toString('hex')}`;

interface RunView {
  status: string;
  steps: Record<string, { status: string; output: unknown; error?: unknown }>;
}

describe.each(DIALECTS)('MCP tools as tasks on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let model: ScriptedModel;
  let http: HttpFixture;
  let key: string;
  const stdioCalls = callsFile();
  const httpCalls = callsFile();

  const { api, ok } = bearerClient(
    () => `${server.url}/api/v1`,
    () => key,
  );
  async function workflow(name: string, steps: unknown[]) {
    await ok('POST', '/workflows', { name, version: '1.0.0', steps });
  }
  async function runToEnd(name: string, input: unknown = {}): Promise<RunView> {
    const { id } = await ok('POST', `/workflows/${name}/runs`, { input });
    return until(`run ${String(id)} to end`, async () => {
      const view = (await ok('GET', `/runs/${String(id)}`)) as unknown as RunView;
      return view.status === 'running' || view.status === 'pending' ? null : view;
    });
  }
  const calls = (file: string, tool: string) => readCalls(file).filter((c) => c.tool === tool);

  beforeAll(async () => {
    model = await startScriptedModel();
    http = await startHttpFixture(httpCalls.file);
    testDb = await createTestDatabase(dialect);
    server = await startServer(
      loadConfig({
        DATABASE_URL: testDb.url,
        SWARM_HOME: path.join(testDb.dir, 'home'),
        SWARM_PORT: '0',
        SWARM_LOG_LEVEL: 'silent',
        SWARM_MASTER_KEY: randomBytes(32).toString('base64'),
        SWARM_ALLOW_PRIVATE_NETWORKS: 'true',
        SWARM_LLM_ALLOWED_URLS: new URL(model.url).origin,
      }),
    );
    key = server.bootstrapped!.key;
    key = (
      await ok('POST', '/keys', {
        name: 'mcp tasks',
        rateLimitPerMinute: 100_000,
        rateLimitPerHour: 1_000_000,
      })
    ).key as string;
    await ok('PUT', '/secrets/MCP_SECRET', { value: SECRET });
    await ok('PUT', '/mcp/servers/tools', stdioServer(stdioCalls.file));
    await ok('PUT', '/mcp/servers/remote', { url: http.url });
    await ok('PUT', '/mcp/servers/envtools', stdioServer(stdioCalls.file, ['MCP_SECRET']));
    await ok('PUT', '/llm-providers/scripted', {
      provider: 'custom',
      base_url: model.url,
      model: 'scripted-1',
    });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await http?.stop();
    await model?.close();
    await testDb?.drop();
    stdioCalls.remove();
    httpCalls.remove();
  });

  it('runs workflow steps on MCP tools over stdio and HTTP, with their results as outputs', async () => {
    await workflow('mcp-steps', [
      { id: 'sum', agent: 'mcp/tools/add', input: { a: '{{ trigger.a }}', b: 2 } },
      { id: 'count', agent: 'mcp/tools/word_count', input: { text: '{{ trigger.text }}' } },
      {
        id: 'remote_sum',
        agent: 'mcp/remote/add@*',
        needs: ['sum'],
        input: { a: '{{ steps.sum.output.sum }}', b: 10 },
      },
    ]);
    const before = {
      add: calls(stdioCalls.file, 'add').length,
      words: calls(stdioCalls.file, 'word_count').length,
    };
    const run = await runToEnd('mcp-steps', { a: 3, text: 'three little words' });
    expect(run.status, JSON.stringify(run)).toBe('completed');
    // structuredContent when the tool gives one, else its content blocks.
    expect(run.steps.sum!.output).toEqual({ sum: 5 });
    expect(run.steps.count!.output).toEqual([{ type: 'text', text: '3 words' }]);
    expect(run.steps.remote_sum!.output).toEqual({ sum: 15 });
    expect(calls(stdioCalls.file, 'add').length - before.add).toBe(1);
    expect(calls(stdioCalls.file, 'word_count').length - before.words).toBe(1);
    expect(calls(httpCalls.file, 'add')).toEqual([{ tool: 'add', args: { a: 5, b: 10 }, transport: 'http' }]);
  }, 60_000);

  it('fails a step whose tool answers isError, with its message and without retrying', async () => {
    await workflow('mcp-fail', [
      {
        id: 'boom',
        agent: 'mcp/tools/fail',
        input: { reason: 'because' },
        retry: { max_attempts: 3, initial_delay_ms: 10 },
      },
    ]);
    const before = calls(stdioCalls.file, 'fail').length;
    const run = await runToEnd('mcp-fail');
    expect(run.status).toBe('failed');
    expect(JSON.stringify(run.steps.boom)).toContain(
      'MCP tool tools/fail failed: failed on purpose: because',
    );
    expect(calls(stdioCalls.file, 'fail').length - before).toBe(1);
  }, 60_000);

  it('refuses a workflow naming an undeclared server or a malformed MCP name, naming the step', async () => {
    const unknown = await api('POST', '/workflows', {
      name: 'mcp-unknown',
      version: '1.0.0',
      steps: [{ id: 'a', agent: 'mcp/nowhere/add' }],
    });
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(unknown.body)).toMatch(/steps\[0\]\.agent.*unknown agent \\"mcp\/nowhere\/add\\"/);
    const malformed = await api('POST', '/workflows', {
      name: 'mcp-malformed',
      version: '1.0.0',
      steps: [{ id: 'a', agent: 'mcp/tools' }],
    });
    expect(malformed.status).toBe(400);
    expect(JSON.stringify(malformed.body)).toContain('mcp/<server>/<tool>');
  });

  it('starts a killed stdio server again: the next call works', async () => {
    await workflow('mcp-again', [
      { id: 'sum', agent: 'mcp/tools/add', input: { a: '{{ trigger.a }}', b: 1 } },
    ]);
    expect((await runToEnd('mcp-again', { a: 1 })).steps.sum!.output).toEqual({ sum: 2 });
    const [pid, ...others] = stdioServerPids(stdioCalls.file).filter(Boolean);
    expect(pid, 'the stdio server runs').toBeTypeOf('number');
    for (const p of [pid!, ...others]) process.kill(p, 'SIGKILL');
    // "Between two calls": once the whole sandboxed tree is gone, and the worker has seen it end.
    await until(
      'the killed server and its sandbox to be gone',
      async () => !anyProcessNaming(stdioCalls.file),
    );
    await new Promise((resolve) => setTimeout(resolve, 250));
    const run = await runToEnd('mcp-again', { a: 41 });
    expect(run.status, JSON.stringify(run)).toBe('completed');
    expect(run.steps.sum!.output).toEqual({ sum: 42 });
    const now = stdioServerPids(stdioCalls.file);
    expect(now.length).toBeGreaterThan(0);
    expect(now).not.toContain(pid);
  }, 60_000);

  it('gives a stdio server only the sandbox variables and its secrets, and redacts them from outputs', async () => {
    await workflow('mcp-env', [
      { id: 'env', agent: 'mcp/envtools/environment', input: { show: 'MCP_SECRET' } },
    ]);
    const { id } = await ok('POST', '/workflows/mcp-env/runs', { input: {} });
    const run = await until('the env run to end', async () => {
      const view = (await ok('GET', `/runs/${String(id)}`)) as unknown as RunView;
      return view.status === 'running' || view.status === 'pending' ? null : view;
    });
    expect(run.status, JSON.stringify(run)).toBe('completed');
    expect(run.steps.env!.output).toEqual({
      names: ['HOME', 'LANG', 'MCP_SECRET', 'PATH', 'TMPDIR'],
      value: '[REDACTED:MCP_SECRET]',
    });
    expect(JSON.stringify(run)).not.toContain(SECRET);
    const logs = await ok('GET', `/runs/${String(id)}/logs`);
    expect(JSON.stringify(logs)).toContain('mcp envtools/environment answered');
    expect(JSON.stringify(logs)).not.toContain(SECRET);
  }, 60_000);

  it('lets an LLM agent loop call an MCP tool and a Python agent in parallel, each once', async () => {
    await ok('POST', '/agents', {
      name: 'mcp-looper',
      version: '1.0.0',
      type: 'reasoning',
      capabilities: ['text:research'],
      resources: { memory_mb: 128, timeout_seconds: 60 },
      runtime: {
        type: 'llm',
        provider: 'scripted',
        model: 'scripted-1',
        system_prompt: 'Use the tools, then answer.',
        tools: [{ agent: 'word-count@^1' }, { mcp: 'tools/add' }],
      },
    });
    await workflow('mcp-loop', [
      { id: 'think', agent: 'mcp-looper@^1', input: { prompt: '{{ trigger.question }}' } },
    ]);
    const requestsBefore = model.requests.length;
    const addsBefore = calls(stdioCalls.file, 'add').length;
    model.script = [
      {
        text: 'Let me check both.',
        toolCalls: [
          { name: 'word-count', arguments: { text: 'three little words' } },
          { name: 'add', arguments: { a: 20, b: 22 } },
        ],
      },
      { text: 'It has 3 words, and 20 + 22 = 42.' },
    ];
    const run = await runToEnd('mcp-loop', { question: 'Count and add' });
    expect(run.status, JSON.stringify(run)).toBe('completed');
    expect(run.steps.think!.output).toEqual({ text: 'It has 3 words, and 20 + 22 = 42.' });

    const requests = model.requests.slice(requestsBefore);
    expect(requests).toHaveLength(2);
    const offered = requests[0]!.body.tools as Array<{
      function: { name: string; description: string; parameters: Record<string, unknown> };
    }>;
    expect(offered.map((t) => t.function.name)).toEqual(['word-count', 'add']);
    // Described by the server's own tools/list.
    expect(offered[1]!.function).toMatchObject({
      description: 'Adds two numbers',
      parameters: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } } },
    });
    const sent = JSON.stringify(requests[1]!.body.messages);
    expect(sent).toContain('{\\"words\\":3,\\"characters\\":18}');
    expect(sent).toContain('{\\"sum\\":42}');
    expect(calls(stdioCalls.file, 'add').slice(addsBefore)).toEqual([
      { tool: 'add', args: { a: 20, b: 22 }, transport: 'stdio' },
    ]);
  }, 90_000);
});
