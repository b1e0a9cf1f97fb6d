/**
 * MCP servers declared per owner (issue 15, item 3): the API and the CLI, bad input refused
 * with the field named and nothing written, and tools listed live from the real test server
 * over stdio (in the process sandbox) and streamable HTTP (through the address guard).
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createMcpPool, McpPool } from '../../src/mcp/index.js';
import { ProcessSandbox } from '../../src/runtimes/index.js';
import { buildApp } from '../../src/server/app.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { cli } from '../helpers/cli.js';
import { bearerClient } from '../helpers/api-client.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';
import { callsFile, FIXTURE, readCalls, startHttpFixture, stdioServer, type HttpFixture } from './helpers.js';

const TOKEN = `tok-${randomBytes(12).toString('hex')}`;

describe.each(DIALECTS)('MCP servers on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;
  let key: string;
  let http: HttpFixture;
  const calls = callsFile();

  const { api } = bearerClient(
    () => `${server.url}/api/v1`,
    () => key,
  );
  const names = async () =>
    ((await api('GET', '/mcp/servers')).body.items as Array<{ name: string }>).map((s) => s.name);

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    http = await startHttpFixture(calls.file, { token: TOKEN });
    const base = {
      DATABASE_URL: testDb.url,
      SWARM_HOME: path.join(testDb.dir, 'home'),
      SWARM_PORT: '0',
      SWARM_LOG_LEVEL: 'silent',
      SWARM_MASTER_KEY: randomBytes(32).toString('base64'),
      // The HTTP fixture listens on 127.0.0.1.
      SWARM_ALLOW_PRIVATE_NETWORKS: 'true',
    };
    server = await startServer(loadConfig(base));
    key = server.bootstrapped!.key;
    // The bootstrap key's 60 requests a minute would not last these tests (the CLI's included).
    key = (
      await api('POST', '/keys', {
        name: 'mcp tests',
        rateLimitPerMinute: 100_000,
        rateLimitPerHour: 1_000_000,
      })
    ).body.key as string;
    env = { ...base, SWARM_URL: server.url, SWARM_API_KEY: key };
    // The header's whole value is the secret: here a bearer token.
    expect((await api('PUT', '/secrets/MCP_TOKEN', { value: `Bearer ${TOKEN}` })).status).toBe(201);
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await http?.stop();
    await testDb?.drop();
    calls.remove();
  });

  it('declares, shows, lists and removes servers of both transports', async () => {
    const stdio = await api('PUT', '/mcp/servers/local', stdioServer(calls.file));
    expect(stdio.status, JSON.stringify(stdio.body)).toBe(201);
    expect(stdio.body.server).toMatchObject({
      name: 'local',
      transport: 'stdio',
      command: 'node',
      args: [expect.stringContaining('server.mjs'), 'stdio', calls.file],
      url: null,
      headers: {},
      env: [],
    });
    const remote = await api('PUT', '/mcp/servers/remote', {
      url: http.url,
      headers: { Authorization: 'MCP_TOKEN' },
    });
    expect(remote.status, JSON.stringify(remote.body)).toBe(201);
    expect(remote.body.server).toMatchObject({ transport: 'http', url: http.url, command: null, args: [] });
    // The header names its secret; the value is never stored nor shown.
    expect((await api('GET', '/mcp/servers/remote')).body.headers).toEqual({ Authorization: 'MCP_TOKEN' });
    expect(JSON.stringify((await api('GET', '/mcp/servers')).body)).not.toContain(TOKEN);
    expect(await names()).toEqual(['local', 'remote']);
    // Replaced without If-None-Match, refused with it.
    expect(
      (await api('PUT', '/mcp/servers/remote', { url: http.url, headers: { Authorization: 'MCP_TOKEN' } }))
        .status,
    ).toBe(200);
    const taken = await api(
      'PUT',
      '/mcp/servers/remote',
      { url: 'https://example.com/mcp' },
      { 'if-none-match': '*' },
    );
    expect(taken.status).toBe(409);
    expect(taken.body).toMatchObject({
      code: 'CONFLICT',
      detail: expect.stringContaining('"remote" exists already'),
    });
    expect((await api('GET', '/mcp/servers/remote')).body.url).toBe(http.url);

    const audit = await api('GET', '/audit-logs?action=mcp_server.set');
    expect(JSON.stringify(audit.body)).not.toContain(TOKEN);

    expect((await api('DELETE', '/mcp/servers/local')).status).toBe(204);
    expect((await api('DELETE', '/mcp/servers/local')).status).toBe(404);
    expect((await api('GET', '/mcp/servers/local')).status).toBe(404);
    expect(await names()).toEqual(['remote']);
    expect((await api('DELETE', '/mcp/servers/remote')).status).toBe(204);
  });

  it('refuses bad input naming the field, and writes nothing', async () => {
    const cases: Array<[string, unknown, string, RegExp]> = [
      ['x', {}, 'command', /give command .* or url/],
      ['x', { command: 'node', url: http.url }, 'url', /not both/],
      ['x', { url: 'ftp://example.com/mcp' }, 'url', /http:\/\/ or https:\/\//],
      ['x', { url: 'https://u:p@example.com/mcp' }, 'url', /credentials/],
      ['x', { url: 'https://example.com/mcp?key=1' }, 'url', /query/],
      [
        'x',
        { url: http.url, headers: { Authorization: 'not a secret name!' } },
        'headers.Authorization',
        /NAME of a secret/,
      ],
      [
        'x',
        { url: http.url, headers: { 'Bad Header': 'MCP_TOKEN' } },
        'headers.Bad Header',
        /not an HTTP header name/,
      ],
      [
        'x',
        { url: http.url, headers: { 'Mcp-Session-Id': 'MCP_TOKEN' } },
        'headers.Mcp-Session-Id',
        /set by the MCP transport/,
      ],
      [
        'x',
        { url: http.url, headers: { Authorization: 'NO_SUCH_SECRET' } },
        'headers.Authorization',
        /no global secret named "NO_SUCH_SECRET"/,
      ],
      ['x', { command: 'node', env: ['NO_SUCH_SECRET'] }, 'env[0]', /no global secret/],
      ['x', { command: 'node', env: ['lower-case-dash'] }, 'env[0]', /NAME of a secret/],
      ['x', { command: 'npx -y server' }, 'command', /give the program alone/],
      ['x', { command: 'bin/server' }, 'command', /bare name or an absolute path/],
      // Types are the route schema's, named as its fields are: body.<field>.
      ['x', { command: 'node', args: 'server.mjs' }, 'body.args', /array/],
      ['x', { url: http.url, args: ['a'] }, 'args', /only a stdio server/],
      ['x', { command: 'node', headers: { A: 'MCP_TOKEN' } }, 'headers', /only an http server/],
      ['x', { command: 'node', shell: true }, 'shell', /not a field/],
      ['Bad!', { command: 'node' }, 'name', /lower-case/],
    ];
    for (const [name, body, field, message] of cases) {
      const res = await api('PUT', `/mcp/servers/${encodeURIComponent(name)}`, body);
      expect(res.status, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`).toBe(400);
      expect(res.body.code).toBe('INPUT_INVALID');
      const errors = res.body.errors as Array<{ field: string; message: string }>;
      expect(errors[0]!.field, JSON.stringify(body)).toBe(field);
      expect(errors[0]!.message, JSON.stringify(body)).toMatch(message);
    }
    expect(await names()).toEqual([]);
  });

  it('lets a member declare an http server but not a stdio one without agents:publish', async () => {
    const member = await memberWithKey(server.store, { name: 'Mia', email: 'mia@example.com' }, 'mia');
    const asMember = (route: string, body: unknown) =>
      fetch(`${server.url}/api/v1${route}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${member.key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const stdio = await asMember('/mcp/servers/mine', stdioServer(calls.file));
    expect(stdio.status).toBe(403);
    expect(await stdio.json()).toMatchObject({
      code: 'INSUFFICIENT_SCOPE',
      detail: expect.stringContaining('agents:publish'),
    });
    expect((await asMember('/mcp/servers/mine', { url: http.url })).status).toBe(201);
    // Owners do not see each other's servers.
    expect(await names()).toEqual([]);
  });

  it('lists tools live over stdio in the sandbox and over HTTP with a header from a secret', async () => {
    expect((await api('PUT', '/mcp/servers/local', stdioServer(calls.file))).status).toBe(201);
    expect(
      (await api('PUT', '/mcp/servers/remote', { url: http.url, headers: { Authorization: 'MCP_TOKEN' } }))
        .status,
    ).toBe(201);
    for (const name of ['local', 'remote']) {
      const res = await api('GET', `/mcp/servers/${name}/tools`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const tools = res.body.tools as Array<{
        name: string;
        description: string;
        inputSchema: Record<string, unknown>;
      }>;
      expect(tools.map((t) => t.name)).toEqual(['add', 'word_count', 'fail', 'environment']);
      expect(tools[0]).toMatchObject({
        description: 'Adds two numbers',
        inputSchema: { type: 'object', required: ['a', 'b'] },
      });
    }
    // Listing calls no tool.
    expect(readCalls(calls.file)).toEqual([]);
  }, 60_000);

  it('says why a server cannot be listed, naming it: never an empty list', async () => {
    expect(
      (await api('PUT', '/mcp/servers/missing-program', { command: '/nonexistent/mcp-server' })).status,
    ).toBe(201);
    const missing = await api('GET', '/mcp/servers/missing-program/tools');
    expect(missing.status).toBe(424);
    expect(missing.body).toMatchObject({
      code: 'MCP_SERVER_UNAVAILABLE',
      detail: expect.stringMatching(
        /^MCP server "missing-program": command \/nonexistent\/mcp-server does not exist/,
      ),
    });

    expect(
      (await api('PUT', '/mcp/servers/crashing', { command: 'node', args: ['-e', 'process.exit(3)'] }))
        .status,
    ).toBe(201);
    const crashing = await api('GET', '/mcp/servers/crashing/tools');
    expect(crashing.status).toBe(424);
    expect(crashing.body.detail).toMatch(
      /MCP server "crashing": its program ended while connecting \(it exited with code 3\)/,
    );

    expect((await api('PUT', '/mcp/servers/no-token', { url: http.url })).status).toBe(201);
    const unauthorized = await api('GET', '/mcp/servers/no-token/tools');
    expect(unauthorized.status).toBe(424);
    expect(unauthorized.body.detail).toMatch(/^MCP server "no-token": connecting: HTTP 401: .*unauthorized/);

    const down = await startHttpFixture(calls.file);
    await down.stop();
    expect((await api('PUT', '/mcp/servers/down', { url: down.url })).status).toBe(201);
    const refused = await api('GET', '/mcp/servers/down/tools');
    expect(refused.status).toBe(424);
    expect(refused.body.detail).toMatch(/^MCP server "down": connecting: .*ECONNREFUSED/);

    expect((await api('GET', '/mcp/servers/nobody/tools')).status).toBe(404);
  }, 60_000);

  it('refuses a private address unless the HTTP policy allows private networks', async () => {
    expect(
      (await api('PUT', '/mcp/servers/remote', { url: http.url, headers: { Authorization: 'MCP_TOKEN' } }))
        .status,
    ).toBeLessThan(300);
    const keyring = (await import('../../src/secrets/index.js')).openKeyring(
      loadConfig({ SWARM_MASTER_KEY: env.SWARM_MASTER_KEY }),
    );
    const strict = createMcpPool({
      store: server.store,
      home: path.join(testDb.dir, 'home'),
      allowPrivateNetworks: false,
      allowUnisolated: false,
      sandbox: () => new ProcessSandbox(),
      secrets: new (await import('../../src/secrets/index.js')).SecretsService(server.store, keyring),
    });
    const app = await buildApp({ store: server.store, mcpPool: strict, keyring, rateLimits: false });
    try {
      const res = await app.inject({
        method: 'GET',
        url: '/api/v1/mcp/servers/remote/tools',
        headers: { authorization: `Bearer ${key}` },
      });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({
        code: 'FORBIDDEN',
        detail: expect.stringMatching(
          /^MCP server "remote": refused to contact 127\.0\.0\.1: loopback address/,
        ),
      });
    } finally {
      await app.close();
      await strict.close();
    }
  });

  it('reconnects once to a restarted HTTP server and lists again; one that stays down is an error', async () => {
    const restartCalls = callsFile();
    let fixture = await startHttpFixture(restartCalls.file);
    expect((await api('PUT', '/mcp/servers/flaky', { url: fixture.url })).status).toBe(201);
    // Nothing kept between two lists here, so each one asks the server.
    const pool = new McpPool({
      store: server.store,
      stdio: () => {
        throw new Error('no stdio server in this test');
      },
      http: { allowPrivateNetworks: true, timeoutMs: 5000, maxResponseBytes: 1024 * 1024 },
      toolsTtlMs: 0,
    });
    const owner = server.bootstrapped!.user.id;
    const signal = new AbortController().signal;
    try {
      expect((await pool.listTools(owner, 'flaky')).map((t) => t.name)).toContain('add');
      // The new process knows nothing of the old session: 404, then one reconnect.
      await fixture.stop();
      fixture = await startHttpFixture(restartCalls.file, { port: fixture.port });
      expect((await pool.listTools(owner, 'flaky')).map((t) => t.name)).toContain('add');
      // A call the restarted server refused for its unknown session ran nothing: sent again, once.
      await fixture.stop();
      fixture = await startHttpFixture(restartCalls.file, { port: fixture.port });
      expect(await pool.callTool(owner, 'flaky', 'add', { a: 1, b: 2 }, signal)).toMatchObject({
        structuredContent: { sum: 3 },
      });
      expect(readCalls(restartCalls.file)).toHaveLength(1);
      await fixture.stop();
      await expect(pool.listTools(owner, 'flaky')).rejects.toMatchObject({
        code: 'MCP_SERVER_UNAVAILABLE',
        message: expect.stringMatching(/^MCP server "flaky": .*ECONNREFUSED/),
      });
    } finally {
      await pool.close();
      await fixture.stop();
      restartCalls.remove();
    }
  }, 60_000);

  it('adds, lists, shows tools and removes servers with the CLI, refusing bad flags', async () => {
    const add = await cli(
      [
        'mcp',
        'servers',
        'add',
        'cli-local',
        '--command',
        'node',
        '--arg',
        FIXTURE,
        '--arg',
        'stdio',
        '--arg',
        calls.file,
      ],
      env,
    );
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(
      /^added MCP server cli-local \(stdio: node .*server\.mjs stdio .*calls\.jsonl\)\n$/,
    );
    const addHttp = await cli(
      ['mcp', 'servers', 'add', 'cli-remote', '--url', http.url, '--header', 'Authorization=MCP_TOKEN'],
      env,
    );
    expect(addHttp.code, addHttp.stderr).toBe(0);
    const list = await cli(['mcp', 'servers', 'list'], env);
    expect(list.stdout).toMatch(/^cli-local\s+stdio\s+node .*server\.mjs/m);
    expect(list.stdout).toMatch(
      /^cli-remote\s+http\s+http:\/\/127\.0\.0\.1:\d+\/mcp\s+Authorization=MCP_TOKEN/m,
    );
    const tools = await cli(['mcp', 'servers', 'tools', 'cli-remote'], env);
    expect(tools.code, tools.stderr).toBe(0);
    expect(tools.stdout).toMatch(/^mcp\/cli-remote\/add\s+Adds two numbers$/m);
    for (const output of [add, addHttp, list, tools])
      expect(output.stdout + output.stderr).not.toContain(TOKEN);

    const before = (await names()).sort();
    const bad: Array<[string[], number, RegExp]> = [
      [['mcp', 'servers', 'add', 'y'], 1, /--command: give --command CMD .* or --url URL/],
      [
        ['mcp', 'servers', 'add', 'y', '--command', 'node', '--url', http.url],
        1,
        /--url: give either --command .* or --url .*, not both/,
      ],
      [
        ['mcp', 'servers', 'add', 'y', '--url', http.url, '--header', 'Authorization'],
        1,
        /--header: "Authorization" must be NAME=SECRET/,
      ],
      [
        ['mcp', 'servers', 'add', 'y', '--url', http.url, '--header', 'Authorization=bad-name'],
        1,
        /headers\.Authorization: must be the NAME of a secret/,
      ],
      [['mcp', 'servers', 'add', 'y', '--url', http.url, '--arg', 'x'], 1, /--arg: only a stdio server/],
      [
        ['mcp', 'servers', 'add', 'cli-local', '--url', http.url],
        1,
        /an MCP server named "cli-local" exists already \[CONFLICT\]/,
      ],
      [['mcp', 'servers', 'add', 'Bad!', '--command', 'node'], 1, /NAME: must be lower-case/],
      [['mcp', 'servers', 'remove', 'nothing-here'], 1, /NOT_FOUND/],
    ];
    for (const [argv, code, message] of bad) {
      const result = await cli(argv, env);
      expect(result.code, `${argv.join(' ')}: ${result.stderr}`).toBe(code);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect((await names()).sort()).toEqual(before);
    expect((await api('GET', '/mcp/servers/cli-local')).body.transport).toBe('stdio');

    const replaced = await cli(['mcp', 'servers', 'add', 'cli-local', '--url', http.url, '--replace'], env);
    expect(replaced).toMatchObject({
      code: 0,
      stdout: `replaced MCP server cli-local (http: ${http.url})\n`,
    });
    for (const name of ['cli-local', 'cli-remote']) {
      const rm = await cli(['mcp', 'servers', 'remove', name], env);
      expect(rm).toMatchObject({ code: 0, stdout: `removed MCP server ${name}\n` });
    }
    expect(
      JSON.parse((await cli(['mcp', 'servers', 'list', '--json'], env)).stdout).map(
        (s: { name: string }) => s.name,
      ),
    ).not.toContain('cli-local');
  }, 60_000);
});
