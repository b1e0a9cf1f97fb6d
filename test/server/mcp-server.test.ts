import path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateApiKey } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { toolNameOf } from '../../src/server/mcp/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { callTool, connectMcp, postMcp, readJson } from '../helpers/mcp-client.js';
import { until } from '../helpers/until.js';
import { memberWithKey } from '../helpers/users.js';

const greet = {
  name: 'greet',
  version: '1.0.0',
  description: 'Greets someone by name.',
  steps: [{ id: 'hello', agent: 'builtin/transform', input: { greeting: 'Hello, {{ trigger.name }}!' } }],
};
// Its first step passes `trigger.url` to http_request, whose input_schema requires a URL: the
// tool's schema says so. Private addresses are refused by default, so a run of it fails.
const fetchPage = {
  name: 'fetch-page',
  version: '1.0.0',
  steps: [{ id: 'get', agent: 'builtin/http_request', input: { url: '{{ trigger.url }}' } }],
};
const slow = {
  name: 'team.slow',
  version: '1.0.0',
  steps: [{ id: 'wait', agent: 'builtin/delay', input: { ms: 1500 } }],
};
const off = {
  name: 'off',
  version: '1.0.0',
  steps: [{ id: 'a', agent: 'builtin/noop', input: {} }],
};

describe.each(DIALECTS)('MCP server on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let key: string;
  let client: Client;
  const others: Client[] = [];

  async function api(method: string, url: string, body?: unknown, asKey = key) {
    const res = await fetch(`${server.url}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${asKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  async function runCount(): Promise<number> {
    return (await server.store.handle.db.selectFrom('workflow_runs').select('id').execute()).length;
  }

  async function keyWith(scopes: string[]): Promise<string> {
    const admin = server.bootstrapped!.user;
    const generated = generateApiKey();
    await server.store
      .as({ userId: admin.id, role: admin.role })
      .apiKeys.create({ name: scopes.join(' '), prefix: generated.prefix, hash: generated.hash, scopes });
    return generated.key;
  }

  async function connect(asKey: string): Promise<Client> {
    const other = await connectMcp(server.url, asKey);
    others.push(other);
    return other;
  }

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    server = await startServer(
      loadConfig({
        DATABASE_URL: testDb.url,
        SWARM_HOME: path.join(testDb.dir, 'home'),
        SWARM_PORT: '0',
        SWARM_LOG_LEVEL: 'silent',
        SWARM_EXAMPLES: 'false',
      }),
    );
    key = server.bootstrapped!.key;
    for (const workflow of [greet, fetchPage, slow, off])
      expect((await api('POST', '/api/v1/workflows', workflow)).status).toBe(201);
    expect((await api('PATCH', '/api/v1/workflows/off', { enabled: false })).status).toBe(200);
    client = await connect(key);
  });
  afterEach(async () => {
    for (const other of others.splice(0)) await other.close();
    await server.close();
    await testDb.drop();
  });

  it('lists each runnable workflow as a tool, its input schema from what the definition reads', async () => {
    expect(client.getServerVersion()).toMatchObject({ name: 'swarm' });
    const { tools } = await client.listTools();
    const slowName = toolNameOf('team.slow');
    expect(slowName).toMatch(/^team_slow_[0-9a-f]{8}$/);
    // `off` is disabled: no tool.
    expect(tools.map((t) => t.name)).toEqual(['fetch-page', 'greet', slowName]);
    const byName = new Map(tools.map((t) => [t.name, t]));
    expect(byName.get('greet')!.description).toMatch(/^Greets someone by name\./);
    expect(byName.get('greet')!.inputSchema).toMatchObject({
      type: 'object',
      properties: { name: { type: 'string' }, _wait_seconds: { type: 'integer', maximum: 60 } },
    });
    // http_request's own schema for `url` (an http(s) URL, or a path under a connector's base), required.
    expect(byName.get('fetch-page')!.inputSchema).toMatchObject({
      type: 'object',
      properties: { url: { type: 'string', pattern: '^(https?://|(?![A-Za-z][A-Za-z0-9+.-]*:))' } },
      required: ['url'],
    });
    // A definition that reads no input takes any object.
    expect(Object.keys(byName.get(slowName)!.inputSchema.properties ?? {})).toEqual(['_wait_seconds']);
  });

  it('runs a workflow for a tool call and returns its output; the run and its logs are resources', async () => {
    const result = await callTool(client, 'greet', { name: 'Ada' });
    expect(result.isError).toBeFalsy();
    const output = { hello: { greeting: 'Hello, Ada!' } };
    const { runId, status, output: structured } = result.structuredContent as Record<string, unknown>;
    expect(status).toBe('completed');
    expect(structured).toEqual(output);
    expect(JSON.parse((result.content[0] as { text: string }).text)).toEqual(output);

    // The same run the API shows, started by the key's owner, manually.
    const run = await api('GET', `/api/v1/runs/${String(runId)}`);
    expect(run.json).toMatchObject({ status: 'completed', result: output, trigger: { type: 'manual' } });

    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate)).toEqual([
      'swarm://runs/{id}',
      'swarm://runs/{id}/logs',
    ]);
    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri)).toEqual([`swarm://runs/${String(runId)}`]);
    const resource = await readJson(client, `swarm://runs/${String(runId)}`);
    expect(resource).toMatchObject({
      id: runId,
      workflow: 'greet',
      status: 'completed',
      input: { name: 'Ada' },
      output,
      error: null,
      steps: { hello: { status: 'completed' } },
      logs: `swarm://runs/${String(runId)}/logs`,
    });
    const logs = await readJson(client, `swarm://runs/${String(runId)}/logs`);
    const lines = logs.lines as { message: string }[];
    expect(logs.truncated).toBe(false);
    expect(lines[0]!.message).toMatch(/^run started/);
    expect(lines.map((l) => l.message)).toContain('step hello running');
    // The API's log, line for line.
    const apiLogs = await api('GET', `/api/v1/runs/${String(runId)}/logs?limit=999`);
    expect(lines).toEqual(apiLogs.json.items);
  });

  it('answers a failed run with isError and its error', async () => {
    const result = await callTool(client, 'fetch-page', { url: 'http://127.0.0.1:9/' });
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ status: 'failed', errorStep: 'get' });
    const text = (result.content[0] as { text: string }).text;
    expect(text).toMatch(/^run \S+ failed at step get: .+/);
    const { runId } = result.structuredContent as { runId: string };
    expect(await readJson(client, `swarm://runs/${runId}`)).toMatchObject({ status: 'failed' });
  });

  it('returns a run still going with its id and resource, to be read until it ends', async () => {
    const name = toolNameOf('team.slow');
    const result = await callTool(client, name, { _wait_seconds: 0 });
    expect(result.isError).toBeFalsy();
    const { runId, status, resource } = result.structuredContent as Record<string, string>;
    expect(status).toBe('running');
    expect(resource).toBe(`swarm://runs/${runId}`);
    expect(result.content[1]).toMatchObject({ type: 'resource_link', uri: resource });
    // `_wait_seconds` is not part of the run's input.
    expect(await readJson(client, resource!)).toMatchObject({ status: 'running', input: {} });
    // Read every 200 ms: the key's 60 requests a minute are plenty for that.
    const ended = await until('the slow run to end', async () => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const run = await readJson(client, resource!);
      return run.status === 'completed' ? run : undefined;
    });
    expect(ended.output).toMatchObject({ wait: { waited_ms: expect.any(Number) } });
    // With a wait long enough, the same tool answers with the output.
    const waited = await callTool(client, name, { _wait_seconds: 10 });
    expect(waited.structuredContent).toMatchObject({ status: 'completed' });
  });

  it('refuses bad arguments and unknown tools with errors, starting nothing', async () => {
    const missing = await callTool(client, 'fetch-page', {});
    expect(missing.isError).toBe(true);
    expect(missing.structuredContent).toEqual({
      error: {
        code: 'INPUT_INVALID',
        errors: [{ field: 'arguments.url', message: "must have required property 'url'" }],
      },
    });
    const wrongType = await callTool(client, 'fetch-page', { url: 5 });
    expect(wrongType.structuredContent).toMatchObject({
      error: { code: 'INPUT_INVALID', errors: [{ field: 'arguments.url', message: 'must be string' }] },
    });
    const badWait = await callTool(client, 'greet', { name: 'x', _wait_seconds: 61 });
    expect(badWait.structuredContent).toMatchObject({
      error: { errors: [{ field: 'arguments._wait_seconds' }] },
    });
    const unknown = await callTool(client, 'nope').catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(McpError);
    expect(unknown).toMatchObject({ code: -32602, message: expect.stringMatching(/unknown tool: nope/) });
    // A disabled workflow is no tool either.
    await expect(callTool(client, 'off')).rejects.toMatchObject({ code: -32602 });
    expect(await runCount()).toBe(0);
  });

  it('needs runs:write to call, workflows:read to list and runs:read to read', async () => {
    const readOnly = await connect(await keyWith(['workflows:read', 'runs:read']));
    expect((await readOnly.listTools()).tools.map((t) => t.name)).toContain('greet');
    const refused = await callTool(readOnly, 'greet', { name: 'Ada' }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(McpError);
    expect(refused).toMatchObject({
      code: -32003,
      message: expect.stringMatching(/needs the scope "runs:write"/),
      data: { code: 'INSUFFICIENT_SCOPE', scope: 'runs:write' },
    });
    expect(await runCount()).toBe(0);

    const runsOnly = await connect(await keyWith(['runs:write']));
    await expect(runsOnly.listTools()).rejects.toMatchObject({
      code: -32003,
      data: { scope: 'workflows:read' },
    });
    const result = await callTool(runsOnly, 'greet', { name: 'Bo' });
    expect(result.structuredContent).toMatchObject({ status: 'completed' });
    const { runId } = result.structuredContent as { runId: string };
    await expect(runsOnly.readResource({ uri: `swarm://runs/${runId}` })).rejects.toMatchObject({
      code: -32003,
      data: { scope: 'runs:read' },
    });
    await expect(runsOnly.listResources()).rejects.toMatchObject({ code: -32003 });
  });

  it("keeps another owner's workflows and runs out of reach", async () => {
    const { runId } = (await callTool(client, 'greet', { name: 'Ada' })).structuredContent as {
      runId: string;
    };
    const member = await memberWithKey(server.store, { name: 'Mo', email: 'mo@example.com' }, 'mo');
    const theirs = await connect(member.key);
    expect((await theirs.listTools()).tools).toEqual([]);
    await expect(callTool(theirs, 'greet', { name: 'x' })).rejects.toMatchObject({ code: -32602 });
    expect((await theirs.listResources()).resources).toEqual([]);
    for (const uri of [`swarm://runs/${runId}`, `swarm://runs/${runId}/logs`]) {
      const error = await theirs.readResource({ uri }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: -32002, data: { code: 'NOT_FOUND', uri } });
      expect(JSON.stringify(error)).not.toContain('Ada');
    }
    await expect(client.readResource({ uri: 'swarm://runs/nope' })).rejects.toMatchObject({ code: -32002 });
    await expect(client.readResource({ uri: 'file:///etc/passwd' })).rejects.toMatchObject({
      code: -32002,
    });
    expect(await runCount()).toBe(1);
  });

  it('answers HTTP-level mistakes with 4xx: no key, a wrong method, malformed JSON-RPC', async () => {
    const initialize = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
    });
    const anonymous = await postMcp(server.url, undefined, initialize);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(anonymous.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await anonymous.json()) as { code: string }).code).toBe('UNAUTHENTICATED');
    await expect(connectMcp(server.url, 'swarm_not-a-key')).rejects.toThrow();

    const ok = await postMcp(server.url, key, initialize);
    expect(ok.status).toBe(200);
    // The API's own headers (rate limit, no-store) are on MCP answers too.
    expect(ok.headers.get('cache-control')).toBe('no-store');
    expect(ok.headers.get('ratelimit')).not.toBeNull();
    expect(((await ok.json()) as { result: { serverInfo: { name: string } } }).result.serverInfo.name).toBe(
      'swarm',
    );

    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(`${server.url}/mcp`, { method, headers: { authorization: `Bearer ${key}` } });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
      expect(((await res.json()) as { code: string }).code).toBe('METHOD_NOT_ALLOWED');
    }

    const notJson = await postMcp(server.url, key, '{"jsonrpc": "2.0", ');
    expect(notJson.status).toBe(400);
    const notRpc = await postMcp(server.url, key, '{"hello": "world"}');
    expect(notRpc.status).toBe(400);
    // The transport's refusals go out as problem+json, like every 4xx, with its message.
    expect(notRpc.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await notRpc.json()).toMatchObject({ status: 400, code: 'INPUT_INVALID', detail: /^MCP: / });
    const noAccept = await postMcp(server.url, key, initialize, { accept: 'application/json' });
    expect(noAccept.status).toBe(406);
    expect(await noAccept.json()).toMatchObject({ status: 406, code: 'INPUT_INVALID' });
    // Params that do not fit the method: a JSON-RPC error, not a crash.
    const noName = await postMcp(
      server.url,
      key,
      JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { arguments: {} } }),
      { 'mcp-protocol-version': '2025-06-18' },
    );
    expect(noName.status).toBe(200);
    expect(((await noName.json()) as { error: { code: number } }).error.code).toBe(-32602);
    const noUri = await postMcp(
      server.url,
      key,
      JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'resources/read', params: {} }),
      { 'mcp-protocol-version': '2025-06-18' },
    );
    expect(((await noUri.json()) as { error: { code: number; message: string } }).error).toMatchObject({
      code: -32602,
      message: expect.stringMatching(/params\.uri/),
    });
    const unknownMethod = await postMcp(
      server.url,
      key,
      JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'prompts/list' }),
      { 'mcp-protocol-version': '2025-06-18' },
    );
    expect(((await unknownMethod.json()) as { error: { code: number } }).error.code).toBe(-32601);
    // Larger than the body limit: the API's 413.
    const huge = await postMcp(server.url, key, JSON.stringify({ pad: 'x'.repeat(1024 * 1024 + 1) }));
    expect(huge.status).toBe(413);
    expect(await runCount()).toBe(0);
    // The server still answers.
    expect((await client.listTools()).tools.length).toBe(3);
  });
});
