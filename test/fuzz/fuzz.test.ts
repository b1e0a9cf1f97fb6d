import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkHealth,
  generateCase,
  loopbackTarget,
  judge,
  routesOf,
  runFuzz,
  startSwarm,
  statusTable,
  type CaseResult,
  type Fixtures,
} from '../../bench/fuzz/index.mjs';
import { createTestDatabase, DIALECTS } from '../helpers/databases.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DIST = path.join(ROOT, 'dist');

/** How a failure reads in an assertion message: enough to reproduce it by hand. */
function describeFailure(f: CaseResult): string {
  const head = f.sent ? f.sent.subarray(0, Math.max(0, f.sent.indexOf('\r\n\r\n'))).toString('latin1') : '';
  return `#${f.index} ${f.route} -> ${f.verdict}: ${f.detail}\n  mutations: ${f.mutations.join('; ')}\n  ${head.slice(0, 600).replaceAll('\r\n', '\n  ')}`;
}

// The bounded run of `npm run fuzz` (bench/fuzz.mjs): a real `swarm start` from dist/ on each
// dialect, a few hundred generated requests with a fixed seed. Any 5xx, unanswered request or
// 4xx that is not problem+json fails it; so does /healthz not answering 200 afterwards.
describe.each(DIALECTS)('fuzzing the API (bounded) on %s', (dialect) => {
  it('answers every generated request without a 5xx, with problem+json 4xx, and stays healthy', async () => {
    expect(fs.existsSync(path.join(DIST, 'cli', 'main.js')), 'dist/ is built by `npm test`').toBe(true);
    const db = await createTestDatabase(dialect);
    const server = await startSwarm({ database: dialect, dist: DIST, databaseUrl: db.url });
    try {
      const run = await runFuzz({ url: server.url, apiKey: server.apiKey, requests: 400, seed: 'npm-test' });
      const table = statusTable(run.results);
      expect(
        run.failures.map(describeFailure),
        `${table}\n${server
          .loggedErrors()
          .map((e) => e.error)
          .join('\n')}`,
      ).toEqual([]);
      expect(run.health).toMatchObject({ healthy: true });
      expect(server.alive()).toBe(true);
      // Every route of the document was sent something, and not everything bounced off the door.
      expect(new Set(run.results.map((r) => r.route))).toEqual(new Set(run.routes));
      expect(run.results.filter((r) => r.status >= 200 && r.status < 300).length).toBeGreaterThan(20);
      expect(run.notes, 'every fixture was made').toEqual([]);
    } finally {
      await server.stop();
      await db.drop();
    }
  }, 120_000);
});

describe('the fuzzer itself', () => {
  const problem = (status: number) => ({
    status,
    headers: { 'content-type': 'application/problem+json' },
    body: Buffer.from(JSON.stringify({ type: 'x', title: 't', status, detail: 'd', code: 'INPUT_INVALID' })),
  });

  it('judges 5xx, missing answers and 4xx that are not problem+json as failures', () => {
    expect(judge('GET', problem(500), null).verdict).toBe('5xx');
    expect(judge('GET', { ...problem(503), headers: {} }, null).verdict).toBe('5xx');
    expect(judge('GET', null, 'connection closed without an answer').verdict).toBe('no-answer');
    expect(
      judge('GET', { ...problem(400), headers: { 'content-type': 'application/json' } }, null).verdict,
    ).toBe('not-problem');
    expect(judge('GET', { ...problem(404), body: Buffer.from('{"status":400}') }, null).verdict).toBe(
      'not-problem',
    );
    expect(judge('GET', { ...problem(404), body: Buffer.from('not json') }, null).verdict).toBe(
      'not-problem',
    );
    expect(judge('GET', problem(404), null).verdict).toBe('ok');
    expect(judge('HEAD', { ...problem(404), body: Buffer.alloc(0) }, null).verdict).toBe('ok');
    expect(judge('GET', { status: 200, headers: {}, body: Buffer.from('x') }, null).verdict).toBe('ok');
  });

  it('generates the same requests from the same seed, and others from another', () => {
    const routes = routesOf(FAKE_DOC);
    const fixtures: Fixtures = {
      apiKey: 'swarm_k',
      revokedKey: null,
      pools: { 'things.id': ['t1', 't2'] },
      hook: { path: 'a/b', secret: 's' },
      workflowDocs: [],
      agentManifests: [],
      components: {},
    };
    const cases = (seed: string) =>
      Array.from({ length: 60 }, (_, i) => generateCase(seed, i, routes, fixtures)).map((c) => ({
        ...c,
        request: { ...c.request, body: c.request.body?.toString('base64') ?? null },
      }));
    expect(cases('a')).toEqual(cases('a'));
    expect(cases('a')).not.toEqual(cases('b'));
    // Every route in turn: 60 cases over 4 routes reach each one 15 times.
    const counts = new Map<string, number>();
    for (const c of cases('a')) counts.set(c.route.key, (counts.get(c.route.key) ?? 0) + 1);
    expect([...counts.values()]).toEqual([15, 15, 15, 15]);
  });

  // A stand-in server that answers 500 to some of what the fuzzer sends, counting each 500, and
  // can be made unhealthy: the fuzzer must report exactly those 500s, and fail.
  let fake: http.Server;
  let fakeUrl = '';
  let served500 = 0;
  let healthy = true;
  beforeAll(async () => {
    fake = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = req.url ?? '';
        const reply = (status: number, type: string, body: string) => {
          res.writeHead(status, { 'content-type': type, connection: 'close' }).end(body);
        };
        const problemBody = (status: number) =>
          JSON.stringify({ type: 'x', title: 't', status, detail: 'd', code: 'NOT_FOUND' });
        if (url === '/api/v1/openapi.json') return reply(200, 'application/json', JSON.stringify(FAKE_DOC));
        if (url === '/healthz')
          return healthy
            ? reply(200, 'application/json', '{"status":"ok"}')
            : reply(503, 'application/problem+json', problemBody(503));
        if (req.method === 'POST' && url.startsWith('/api/v1/things')) {
          try {
            JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            served500++;
            return reply(500, 'application/json', '{"boom":true}');
          }
          return reply(201, 'application/json', '{}');
        }
        return reply(404, 'application/problem+json', problemBody(404));
      });
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    fake.closeAllConnections();
    await new Promise((resolve) => fake.close(resolve));
  });

  it('reports every 5xx the server sent, and an unhealthy server', async () => {
    served500 = 0;
    const run = await runFuzz({ url: fakeUrl, apiKey: 'swarm_k', requests: 80, seed: 'detector' });
    expect(served500).toBeGreaterThan(0);
    expect(run.failures.filter((f) => f.verdict === '5xx')).toHaveLength(served500);
    expect(run.results.filter((r) => r.status === 500)).toHaveLength(served500);
    expect(run.health.healthy).toBe(true);
    healthy = false;
    try {
      expect(await checkHealth(loopbackTarget(fakeUrl))).toMatchObject({ healthy: false });
    } finally {
      healthy = true;
    }
  });

  it('`npm run fuzz` exits 1 and prints a reproduction of each 5xx', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-fuzz-test-'));
    try {
      const args = ['--url', fakeUrl, '--key', 'swarm_k', '--requests', '40', '--seed', 'cli', '--out', out];
      const child = spawn(process.execPath, [path.join(ROOT, 'bench', 'fuzz.mjs'), ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c.toString()));
      child.stderr.on('data', (c: Buffer) => (text += c.toString()));
      const code = await new Promise((resolve) => child.once('exit', resolve));
      expect(code, text).toBe(1);
      expect(text).toMatch(/-> 5xx: 500/);
      expect(text).toMatch(/^total\s+40\s/m);
      // Each failure's raw request is saved, and replaying one gets the same 500.
      const file = /raw: (\S+case-\d+\.http)/.exec(text.slice(text.indexOf('-> 5xx')))?.[1];
      expect(file && fs.existsSync(file)).toBe(true);
      const replay = spawn(
        process.execPath,
        [path.join(ROOT, 'bench', 'fuzz.mjs'), '--replay', file!, '--url', fakeUrl],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let answer = '';
      replay.stdout.on('data', (c: Buffer) => (answer += c.toString()));
      expect(await new Promise((resolve) => replay.once('exit', resolve))).toBe(1);
      expect(answer).toMatch(/^500\n/);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('refuses any address but 127.0.0.1', async () => {
    await expect(runFuzz({ url: 'http://localhost:1', apiKey: 'k', requests: 1, seed: 1 })).rejects.toThrow(
      /only talks to http:\/\/127\.0\.0\.1/,
    );
  });
});

/** The stand-in server's API: a public health check, a list, a body route, a path parameter. */
const FAKE_DOC = {
  openapi: '3.1.0',
  paths: {
    '/healthz': { get: { security: [] } },
    '/api/v1/things': {
      get: { parameters: [{ in: 'query', name: 'limit', schema: { type: 'string', pattern: '^[0-9]+$' } }] },
      post: {
        requestBody: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['name'],
                properties: { name: { type: 'string', minLength: 1 }, n: { type: 'integer', minimum: 1 } },
              },
            },
          },
        },
      },
    },
    '/api/v1/things/{id}': {
      get: { parameters: [{ in: 'path', name: 'id', required: true, schema: { type: 'string' } }] },
    },
  },
};
