import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { Engine } from '../../src/engine/index.js';
import { Registry } from '../../src/registry/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { signPayload, syncTriggers, type SyncedTrigger } from '../../src/triggers/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

const nested = (depth: number, leaf = '1') => '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
const deepArray = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

interface Probe {
  readonly name: string;
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH';
  readonly url: string;
  readonly body?: string;
  readonly type?: string;
  readonly headers?: Record<string, string>;
  /** No API key: the route is public (webhooks) or the probe is about what happens before auth. */
  readonly anonymous?: boolean;
  readonly status: number;
  /** What the problem's detail must say (the field, the limit). */
  readonly detail: RegExp;
}

const DEPTH = /nested deeper than 64 levels \(SWARM_BODY_MAX_DEPTH\)/;
const BAD_URL = /^url: is not a valid URL path/;

/** Each was a 500 on PostgreSQL (NUL) or on both dialects (depth) before the input guard. */
const PROBES: readonly Probe[] = [
  {
    name: 'NUL in a path parameter',
    method: 'GET',
    url: '/api/v1/agents/a%00b',
    status: 400,
    detail: /^params\.name: contains a NUL/,
  },
  { name: 'NUL as a whole id', method: 'GET', url: '/api/v1/runs/%00', status: 400, detail: /^params\.id: / },
  {
    name: 'NUL in a PUT path',
    method: 'PUT',
    url: '/api/v1/secrets/A%00B',
    body: '{"value":"x"}',
    status: 400,
    detail: /^params\.name: /,
  },
  {
    name: 'NUL in a query parameter',
    method: 'GET',
    url: '/api/v1/runs?workflow=a%00b',
    status: 400,
    detail: /^querystring\.workflow: contains a NUL/,
  },
  {
    name: 'NUL in a header used as data',
    method: 'GET',
    url: '/api/v1/me',
    headers: { 'user-agent': 'x\u0000y' },
    status: 400,
    detail: /^headers\.user-agent: /,
  },
  {
    name: 'NUL in a webhook path, unauthenticated',
    method: 'POST',
    url: '/hooks/shop%00/orders',
    body: '{}',
    anonymous: true,
    status: 400,
    detail: /^params\.path: contains a NUL/,
  },
  {
    name: 'NUL in a body string',
    method: 'POST',
    url: '/api/v1/keys',
    body: '{"name":"a\\u0000b"}',
    status: 400,
    detail: /^body\.name: contains a NUL/,
  },
  {
    name: 'NUL deep in an input',
    method: 'POST',
    url: '/api/v1/tasks',
    body: '{"agent":"builtin/echo","input":{"list":[1,{"x":"\\u0000"}]}}',
    status: 400,
    detail: /^body\.input\.list\.1\.x: /,
  },
  {
    name: 'NUL in a key',
    method: 'POST',
    url: '/api/v1/events',
    body: '{"type":"t","source":"s","payload":{"a\\u0000":1}}',
    status: 400,
    detail: /^body\.payload: has a key that contains a NUL/,
  },
  {
    name: 'NUL in a workflow run input',
    method: 'POST',
    url: '/api/v1/workflows/on-order/runs',
    body: '{"input":{"id":"\\u0000"}}',
    status: 400,
    detail: /^body\.input\.id: /,
  },
  {
    name: 'invalid UTF-8 in a path',
    method: 'GET',
    url: '/api/v1/agents/%ff%fe',
    status: 400,
    detail: BAD_URL,
  },
  {
    name: 'a lone surrogate, UTF-8 encoded, in a path',
    method: 'GET',
    url: '/api/v1/runs/%ED%A0%80',
    status: 400,
    detail: BAD_URL,
  },
  {
    name: 'bad percent-encoding in a path',
    method: 'GET',
    url: '/api/v1/agents/%zz',
    status: 400,
    detail: BAD_URL,
  },
  {
    name: 'bad percent-encoding in a webhook path',
    method: 'POST',
    url: '/hooks/%',
    body: '{}',
    anonymous: true,
    status: 400,
    detail: BAD_URL,
  },
  {
    name: '5,000-deep object as task input',
    method: 'POST',
    url: '/api/v1/tasks',
    body: `{"agent":"builtin/echo","input":${nested(5000)}}`,
    status: 400,
    detail: DEPTH,
  },
  {
    name: '100,000-deep array as task input',
    method: 'POST',
    url: '/api/v1/tasks',
    body: `{"agent":"builtin/echo","input":${deepArray(100_000)}}`,
    status: 400,
    detail: DEPTH,
  },
  {
    name: '5,000-deep event payload',
    method: 'POST',
    url: '/api/v1/events',
    body: `{"type":"t","source":"s","payload":${nested(5000)}}`,
    status: 400,
    detail: DEPTH,
  },
  {
    name: '5,000-deep run input',
    method: 'POST',
    url: '/api/v1/workflows/on-order/runs',
    body: `{"input":${nested(5000)}}`,
    status: 400,
    detail: DEPTH,
  },
  {
    name: 'one level too deep',
    method: 'POST',
    url: '/api/v1/events',
    body: `{"type":"t","source":"s","payload":${nested(64)}}`,
    status: 400,
    detail: DEPTH,
  },
  {
    name: '100,000-deep YAML flow',
    method: 'POST',
    url: '/api/v1/workflows',
    type: 'application/yaml',
    body: `name: x\nsteps: ${deepArray(100_000)}`,
    status: 400,
    detail: DEPTH,
  },
  {
    name: '50,000-deep compact YAML sequence',
    method: 'POST',
    url: '/api/v1/workflows',
    type: 'application/yaml',
    body: `${'- '.repeat(50_000)}x`,
    status: 400,
    detail: DEPTH,
  },
  {
    name: 'NUL in YAML',
    method: 'POST',
    url: '/api/v1/workflows',
    type: 'application/yaml',
    body: 'name: "a\\0b"\n',
    status: 400,
    detail: /^body\.name: contains a NUL/,
  },
  {
    name: 'body over the limit',
    method: 'POST',
    url: '/api/v1/keys',
    body: JSON.stringify({ name: 'x'.repeat(1_100_000) }),
    status: 413,
    detail: /larger than 1048576 bytes .*SWARM_BODY_LIMIT/,
  },
  {
    name: 'malformed JSON',
    method: 'POST',
    url: '/api/v1/keys',
    body: '{"name":',
    status: 400,
    detail: /^body: is not valid JSON/,
  },
  {
    name: 'an empty JSON body',
    method: 'POST',
    url: '/api/v1/keys',
    body: '',
    status: 400,
    detail: /^body: is empty/,
  },
  {
    name: 'prototype poisoning',
    method: 'POST',
    url: '/api/v1/keys',
    body: '{"name":"x","__proto__":{"admin":true}}',
    status: 400,
    detail: /./,
  },
  {
    name: 'an unsupported content type',
    method: 'POST',
    url: '/api/v1/keys',
    type: 'application/xml',
    body: '<key/>',
    status: 415,
    detail: /Unsupported Media Type/,
  },
];

describe.each(DIALECTS)('input that gets a 4xx, never a 5xx, on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let adminKey: string;
  let hook: SyncedTrigger;

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    const admin = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!;
    adminKey = admin.key;
    const caller = { userId: admin.user.id, role: admin.user.role };
    const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));
    app = await buildApp({ store, engine: new Engine(store), keyring });
    const { workflow } = await new Registry(store).as(caller).workflows.apply({
      name: 'on-order',
      version: '1.0.0',
      trigger: { type: 'webhook', path: 'shop/orders' },
      steps: [{ id: 'a', agent: 'builtin/transform', input: { order: '{{ trigger.id }}' } }],
    });
    [hook] = (await syncTriggers(store, keyring, caller, [workflow])) as [SyncedTrigger];
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  /** Rows in every table (one query): what a refused request must leave as it was. */
  async function rowCounts(): Promise<Record<string, number>> {
    const db = store.handle.db as unknown as Kysely<unknown>;
    // Not the key's rate-limit reservations: counting the request is not something it wrote.
    const tables = (await store.dialect.listTables(db)).filter((t) => t !== 'rate_limit_tracker');
    const counts = sql.raw(
      tables.map((t) => `SELECT '${t}' AS t, COUNT(*) AS n FROM ${t}`).join(' UNION ALL '),
    );
    const { rows } = await sql<{ t: string; n: number | string }>`${counts}`.execute(db);
    return Object.fromEntries(rows.map((r) => [r.t, Number(r.n)]));
  }

  it.each(PROBES)('$name → $status problem+json, nothing written', async (probe) => {
    const before = await rowCounts();
    const res = await app.inject({
      method: probe.method,
      url: probe.url,
      headers: {
        ...(probe.anonymous ? {} : { authorization: `Bearer ${adminKey}` }),
        ...(probe.body === undefined ? {} : { 'content-type': probe.type ?? 'application/json' }),
        ...probe.headers,
      },
      ...(probe.body === undefined ? {} : { payload: probe.body }),
    });
    expect(res.statusCode, res.body.slice(0, 300)).toBe(probe.status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = res.json();
    expect(problem).toMatchObject({ status: probe.status, code: 'INPUT_INVALID' });
    expect(problem.detail).toMatch(probe.detail);
    await app.authFailures.flush();
    expect(await rowCounts()).toEqual(before);
  });

  it('accepts a body exactly as deep as the limit', async () => {
    // The body object is level 1, `payload` level 2: 62 more levels inside reach 64.
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/events',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      payload: `{"type":"t","source":"s","payload":${nested(62)}}`,
    });
    expect(res.statusCode, res.body).toBe(202);
  });

  function deliver(body: string) {
    return app.inject({
      method: 'POST',
      url: '/hooks/shop/orders',
      payload: body,
      headers: { 'content-type': 'application/json', 'x-swarm-signature': signPayload(hook.secret!, body) },
    });
  }

  it('refuses a signed webhook body nested too deep, and stores NUL in one as U+FFFD', async () => {
    const before = await rowCounts();
    for (const body of [nested(5000), deepArray(100_000)]) {
      const deep = await deliver(body);
      expect(deep.statusCode).toBe(400);
      expect(deep.json().detail).toMatch(DEPTH);
    }
    expect(await rowCounts()).toEqual(before);
    // A sender's data, like an agent's output: not refused, and the same on both dialects.
    const ok = await deliver('{"id":"a\\u0000b"}');
    expect(ok.statusCode, ok.body).toBe(202);
    const run = await store.handle.db
      .selectFrom('workflow_runs')
      .select('trigger_data')
      .where('id', '=', ok.json().runId)
      .executeTakeFirstOrThrow();
    expect(JSON.parse(run.trigger_data!)).toEqual({ id: 'a\uFFFDb' });
  });

  it('answers a pull agent result with NUL (agent output) instead of refusing it as text input', async () => {
    // The route takes NUL as U+FFFD; with no such task it is a 404, not a 400 about NUL.
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/tasks/no-such-task/result',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      payload: '{"lease_epoch":1,"output":{"text":"a\\u0000b"}}',
    });
    expect(res.statusCode, res.body).toBe(404);
  });

  it('puts nosniff, no-referrer and no-store on every answer, keys and secrets included', async () => {
    const auth = { authorization: `Bearer ${adminKey}` };
    const answers = [
      await app.inject({ method: 'GET', url: '/healthz' }),
      await app.inject({ method: 'GET', url: '/api/v1/me' }),
      await app.inject({ method: 'GET', url: '/api/v1/me', headers: auth }),
      await app.inject({ method: 'GET', url: '/nowhere' }),
      await app.inject({ method: 'GET', url: '/api/v1/agents/%ff', headers: auth }),
      await app.inject({
        method: 'POST',
        url: '/api/v1/keys',
        headers: auth,
        payload: { name: 'ci' },
      }),
      await app.inject({
        method: 'POST',
        url: '/api/v1/keys',
        headers: { ...auth, 'content-type': 'application/json' },
        payload: '{"name":"a\\u0000"}',
      }),
      await app.inject({ method: 'POST', url: `/api/v1/triggers/${hook.id}/rotate-secret`, headers: auth }),
    ];
    expect(answers.map((a) => a.statusCode).slice(0, 6)).toEqual([200, 401, 200, 404, 400, 201]);
    expect(answers[5]!.json().key).toMatch(/^swarm_/);
    for (const answer of answers) {
      expect(answer.headers).toMatchObject({
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
      });
    }
  });
});
