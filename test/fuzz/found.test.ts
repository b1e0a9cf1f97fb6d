import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { send } from '../../bench/fuzz/index.mjs';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

// What `npm run fuzz` found (5xx, and a 4xx that was not problem+json), each kept as the smallest
// request that showed it.
describe.each(DIALECTS)('requests the fuzzer found mishandled, on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let key: string;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    key = (await bootstrapAdmin(store, testDb.dir, 'http://127.0.0.1:0'))!.key;
    app = await buildApp({ store });
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  const post = (url: string, payload: unknown, method: 'POST' | 'PUT' = 'POST') =>
    app.inject({ method, url, headers: { authorization: `Bearer ${key}` }, payload: payload as object });

  /** A 4xx problem whose issues are few, whatever the number of things wrong. */
  function expectBoundedProblem(res: Awaited<ReturnType<typeof post>>, field: RegExp) {
    expect(res.statusCode, res.body.slice(0, 500)).toBe(400);
    const problem = res.json();
    expect(problem.code).toBe('INPUT_INVALID');
    expect(problem.errors.length).toBeLessThanOrEqual(50);
    expect(problem.errors[0].field).toMatch(field);
    expect(problem.errors.at(-1).message).toMatch(/more problem/);
  }

  const manifest = (inputSchema: unknown) => ({
    name: 'lister',
    version: '1.0.0',
    capabilities: ['list:strings'],
    runtime: { type: 'builtin', name: 'transform' },
    input_schema: inputSchema,
  });

  it('an agent schema with 150,000 problems (a `required` of numbers) is a 400 listing the first ones', async () => {
    // Each problem used to become an issue, all spread into one push(): the stack overflowed.
    const res = await post('/api/v1/agents', manifest({ type: 'object', required: Array(150_000).fill(1) }));
    expectBoundedProblem(res, /^input_schema/);
  });

  it('a task input with 150,000 schema violations is a 400 listing the first ones', async () => {
    const schema = { type: 'object', properties: { xs: { type: 'array', items: { type: 'string' } } } };
    expect((await post('/api/v1/agents', manifest(schema))).statusCode).toBe(201);
    const res = await post('/api/v1/tasks', { agent: 'lister', input: { xs: Array(150_000).fill(1) } });
    expectBoundedProblem(res, /^input/);
  });

  it('a workflow of 2,000 chained steps is refused at once (a 400), not validated for minutes', async () => {
    // Each pass over the steps grew faster than their number: 10,000 took over two minutes with
    // the event loop blocked; more would overflow the stack of the recursive cycle search.
    const steps = Array.from({ length: 2_000 }, (_, i) => ({
      id: `s${i}`,
      agent: 'echo',
      needs: i ? [`s${i - 1}`] : [],
    }));
    for (const url of ['/api/v1/workflows', '/api/v1/workflows/validate']) {
      const res = await post(url, { name: 'huge', version: '1.0.0', steps });
      expect(res.statusCode, res.body.slice(0, 300)).toBe(400);
      expect(res.json().errors).toEqual([
        { field: 'steps', message: 'has 2000 steps; at most 1000 are allowed' },
      ]);
    }
  });

  it("an HTTP/1.1 request without a Host header gets a problem+json 400, not Node's empty one", async () => {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    for (const path of ['/healthz', '/api/v1/me']) {
      const { response } = await send(
        { host: '127.0.0.1', port },
        { method: 'GET', path, headers: [], body: null, noHost: true },
      );
      expect(response?.status).toBe(400);
      expect(response?.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(response!.body.toString())).toMatchObject({
        status: 400,
        errors: [{ field: 'headers.host' }],
      });
    }
    // With it, the same requests pass.
    const { response } = await send(
      { host: '127.0.0.1', port },
      { method: 'GET', path: '/healthz', headers: [], body: null },
    );
    expect(response?.status).toBe(200);
  });
});
