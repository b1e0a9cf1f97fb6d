import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { callTool, connectMcp, readJson } from '../helpers/mcp-client.js';
import { MAIN, startSwarm, stopAll, waitFor, type Started } from '../helpers/swarm-process.js';
import { until } from '../helpers/until.js';

const greet = {
  name: 'greet',
  version: '1.0.0',
  steps: [{ id: 'hello', agent: 'builtin/transform', input: { greeting: 'Hello, {{ trigger.name }}!' } }],
};
const slow = {
  name: 'slow',
  version: '1.0.0',
  steps: [
    { id: 'wait', agent: 'builtin/delay', input: { ms: 2500 } },
    { id: 'done', agent: 'builtin/transform', needs: ['wait'], input: { who: '{{ trigger.who }}' } },
  ],
};

// Two real `swarm start` processes (dist/: `npx tsc -p tsconfig.build.json`) on one PostgreSQL
// database, neither with a worker of its own, and a `swarm worker` process that runs the steps:
// the MCP endpoint keeps nothing between requests, so either process answers any of them.
describe.skipIf(!DIALECTS.includes('postgres'))('MCP across two swarm start processes', () => {
  let testDb: TestDatabase;
  let worker: ChildProcess | undefined;
  let clients: Client[];
  let a: Started;
  let b: Started;
  let key: string;

  beforeEach(async () => {
    expect(fs.existsSync(MAIN), 'dist/ is built').toBe(true);
    testDb = await createTestDatabase('postgres');
    clients = [];
    const masterKey = randomBytes(32).toString('base64');
    const env = (name: string) => ({
      DATABASE_URL: testDb.url,
      SWARM_HOME: path.join(testDb.dir, name),
      SWARM_MASTER_KEY: masterKey,
      SWARM_PORT: '0',
      SWARM_WORKER: 'false',
      SWARM_EXAMPLES: 'false',
      SWARM_TRIGGERS: 'false',
    });
    a = await startSwarm(env('a'), testDb.dir, true);
    b = await startSwarm(env('b'), testDb.dir, false);
    key = a.key!;
    const output = { text: '' };
    worker = spawn(process.execPath, [MAIN, 'worker', '--concurrency', '2'], {
      env: { PATH: process.env.PATH, ...env('worker'), SWARM_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    worker.stdout!.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    worker.stderr!.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    await waitFor(worker, output, /worker \S+ started/);
    for (const workflow of [greet, slow]) {
      const res = await fetch(`${a.url}/api/v1/workflows`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(workflow),
      });
      expect(res.status).toBe(201);
    }
  }, 120_000);
  afterEach(async () => {
    for (const client of clients) await client.close();
    if (worker !== undefined && worker.exitCode === null) {
      const exited = new Promise((resolve) => worker!.once('exit', resolve));
      worker.kill('SIGTERM');
      await exited;
    }
    await stopAll();
    await testDb.drop();
  }, 60_000);

  async function connect(url: string): Promise<Client> {
    const client = await connectMcp(url, key);
    clients.push(client);
    return client;
  }

  it('lists on one process and calls on the other; a run started via A is read via B', async () => {
    const onA = await connect(a.url);
    const onB = await connect(b.url);
    expect((await onA.listTools()).tools.map((t) => t.name)).toEqual(['greet', 'slow']);
    // Called on B, run by the worker process, its end seen by B in the database.
    const greeted = await callTool(onB, 'greet', { name: 'Ada' });
    expect(greeted.structuredContent).toMatchObject({
      status: 'completed',
      output: { hello: { greeting: 'Hello, Ada!' } },
    });

    const started = await callTool(onA, 'slow', { who: 'Bo', _wait_seconds: 0 });
    const { runId, status, resource } = started.structuredContent as Record<string, string>;
    expect(status).toBe('running');
    expect((await readJson(onB, resource!)).status).toBe('running');
    const ended = await until(
      'the slow run to end, read on B',
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 250));
        const run = await readJson(onB, resource!);
        return run.status === 'completed' ? run : undefined;
      },
      30_000,
    );
    expect(ended).toMatchObject({ id: runId, input: { who: 'Bo' }, output: { done: { who: 'Bo' } } });
    const logs = await readJson(onB, `${resource!}/logs`);
    expect((logs.lines as { message: string }[]).map((l) => l.message)).toContain('step done running');
    expect((await onB.listResources()).resources.map((r) => r.uri)).toContain(resource);
  }, 90_000);

  it('serves one client whose every request goes to the other process', async () => {
    // A load balancer that alternates: initialize on A, the next request on B, and so on.
    const targets = [a.url, b.url];
    const seen: string[] = [];
    let next = 0;
    const client = new Client({ name: 'swarm-test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL('/mcp', a.url), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
      fetch: (url, init) => {
        const target = targets[next++ % targets.length]!;
        seen.push(`${init?.method ?? 'GET'} ${target}`);
        return fetch(new URL(new URL(url).pathname, target), init);
      },
    });
    await client.connect(transport);
    clients.push(client);
    for (let i = 0; i < 3; i++) {
      expect((await client.listTools()).tools).toHaveLength(2);
      const result = await callTool(client, 'greet', { name: `n${i}` });
      expect(result.structuredContent).toMatchObject({
        status: 'completed',
        output: { hello: { greeting: `Hello, n${i}!` } },
      });
    }
    // Both processes answered POSTs of this one client.
    expect(new Set(seen.filter((s) => s.startsWith('POST')).map((s) => s.split(' ')[1])).size).toBe(2);
  }, 90_000);
});
