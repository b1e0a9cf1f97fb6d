/**
 * GET /metrics (Prometheus) and GET /api/v1/metrics/overview after real runs: a workflow of a
 * builtin step and an LLM step (the example summarizer, against a local OpenAI-speaking server)
 * driven to completion by the production worker (createWorker), scraped with an admin key.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapAdmin, generateApiKey } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { Engine } from '../../src/engine/index.js';
import { EXAMPLES_DIR, parseDocument, Registry } from '../../src/registry/index.js';
import { openKeyring, SecretsService } from '../../src/secrets/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store, type Caller } from '../../src/storage/index.js';
import { createWorker, type Worker } from '../../src/worker/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { until } from '../helpers/until.js';
import { memberWithKey } from '../helpers/users.js';
import { startFakeLlm, type FakeLlm } from '../runtimes/llm-server.js';

/** One sample of the exposition: `name{labels} value`. */
interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The sum of the samples of `name` whose labels include `match`. */
function sum(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0);
}

const WORKFLOW = {
  name: 'metered',
  version: '1.0.0',
  steps: [
    { id: 'greet', agent: 'builtin/transform', input: { text: 'Hello {{ trigger.who }}, a long text.' } },
    {
      id: 'sum',
      agent: 'summarizer@1.0.0',
      needs: ['greet'],
      input: { text: '{{ steps.greet.output.text }}' },
    },
  ],
};

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(async () => {
  await fake.close();
});

describe.each(DIALECTS)('metrics on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let worker: Worker;
  let adminKey: string;
  let admin: Caller;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    const boot = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!;
    adminKey = boot.key;
    admin = { userId: boot.user.id, role: 'admin' };
    const config = loadConfig({
      DATABASE_URL: testDb.url,
      SWARM_HOME: testDb.dir,
      SWARM_MASTER_KEY: randomBytes(32).toString('base64'),
      SWARM_ALLOW_PRIVATE_NETWORKS: 'true',
    });
    const keyring = openKeyring(config);
    const engine = new Engine(store);
    app = await buildApp({ store, engine, keyring });
    worker = createWorker(store, engine, config, pino({ level: 'silent' }), { keyring });
    worker.start();
    // The example LLM agent, its provider (the local server) and the key it reads.
    const secrets = new SecretsService(store, keyring);
    await secrets.set(admin, { name: 'LLM_KEY', value: 'sk-test' });
    const secret = (await store.as(admin).secrets.list()).find((s) => s.name === 'LLM_KEY')!;
    await store.as(admin).llm.setProvider({
      name: 'local-openai',
      provider: 'custom',
      model: null,
      baseUrl: fake.url,
      apiKeySecretId: secret.id,
      active: true,
      isDefault: false,
      configuration: { input_cost_per_1k: 1, output_cost_per_1k: 2 },
    });
    const manifest = parseDocument(
      fs.readFileSync(path.join(EXAMPLES_DIR, 'agents', 'summarizer', 'agent.yaml'), 'utf8'),
      'yaml',
    );
    await new Registry(store).as(admin).agents.register(manifest);
    fake.reply = '{"summary": "A greeting."}';
    fake.usage = { input: 12, output: 7 };
    expect((await call('POST', '/api/v1/workflows', WORKFLOW)).statusCode).toBe(201);
  });
  afterEach(async () => {
    await worker.stop(1000);
    await app.close();
    await store.close();
    await testDb.drop();
  });

  function call(method: 'GET' | 'POST', url: string, payload?: unknown, key = adminKey) {
    return app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${key}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  }

  async function scrape(): Promise<{ text: string; samples: Sample[] }> {
    const res = await call('GET', '/metrics');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return { text: res.body, samples: parseExposition(res.body) };
  }

  /** Starts `n` runs through the API and waits until every one completed. */
  async function runToCompletion(n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const res = await call('POST', '/api/v1/workflows/metered/runs', { input: { who: `W${i}` } });
      expect(res.statusCode).toBe(202);
      ids.push(res.json().id);
    }
    worker.notify();
    for (const id of ids)
      await until(`run ${id} to end`, async () => {
        const run = (await call('GET', `/api/v1/runs/${id}`)).json();
        if (run.status === 'failed') throw new Error(JSON.stringify(run));
        return run.status === 'completed';
      });
    return ids;
  }

  it('scrapes the families with the counts of real runs, and no id as a label value', async () => {
    const before = (await scrape()).samples;
    const ids = await runToCompletion(2);
    const { text, samples } = await scrape();

    for (const family of [
      'swarm_queue_depth',
      'swarm_workers_active',
      'swarm_runs',
      'swarm_queue_claim_duration_seconds',
      'swarm_task_wait_seconds',
      'swarm_tasks_claimed_total',
      'swarm_task_duration_seconds',
      'swarm_run_duration_seconds',
      'swarm_task_retries_total',
      'swarm_task_lease_losses_total',
      'swarm_llm_tokens_total',
      'swarm_llm_cost_total',
      'swarm_webhook_receipts_total',
      'swarm_webhook_deliveries_total',
      'swarm_event_dispatch_lag_seconds',
      'swarm_http_requests_total',
      'swarm_http_request_duration_seconds',
    ])
      expect(text, family).toContain(`# TYPE ${family} `);

    // From the database at scrape time: exact for this fresh store.
    expect(sum(samples, 'swarm_runs', { status: 'completed' })).toBe(2);
    expect(sum(samples, 'swarm_runs', { status: 'running' })).toBe(0);
    expect(sum(samples, 'swarm_queue_depth')).toBe(0);
    // In-process counters are shared by every app of this test process: compared with before.
    const delta = (name: string, match: Record<string, string> = {}) =>
      sum(samples, name, match) - sum(before, name, match);
    expect(delta('swarm_task_duration_seconds_count', { status: 'completed' })).toBe(4);
    expect(delta('swarm_task_duration_seconds_count', { agent: 'summarizer', status: 'completed' })).toBe(2);
    expect(delta('swarm_task_duration_seconds_count', { agent: 'builtin/transform' })).toBe(2);
    expect(delta('swarm_run_duration_seconds_count', { workflow: 'metered', status: 'completed' })).toBe(2);
    expect(delta('swarm_task_wait_seconds_count')).toBe(4);
    // Each task claimed once: from the queue, or (a run's next step) on its predecessor's completion.
    expect(
      delta('swarm_tasks_claimed_total', { how: 'queue' }) +
        delta('swarm_tasks_claimed_total', { how: 'on_complete' }),
    ).toBe(4);
    expect(delta('swarm_queue_claim_duration_seconds_count')).toBeGreaterThan(0);
    const llm = { provider: 'local-openai', model: 'gpt-4o-mini' };
    expect(delta('swarm_llm_tokens_total', { ...llm, kind: 'input' })).toBe(24);
    expect(delta('swarm_llm_tokens_total', { ...llm, kind: 'output' })).toBe(14);
    expect(delta('swarm_llm_cost_total', llm)).toBeCloseTo(2 * (0.012 + 0.014), 9);
    expect(
      delta('swarm_http_requests_total', {
        method: 'POST',
        route: '/api/v1/workflows/:name/runs',
        status: '202',
      }),
    ).toBe(2);
    expect(delta('swarm_http_requests_total', { route: '/api/v1/runs/:id', status: '200' })).toBeGreaterThan(
      0,
    );

    // Bounded cardinality: no run or task id, and nothing shaped like an id, is a label value.
    const taskIds = (await store.handle.db.selectFrom('tasks').select('id').execute()).map((t) => t.id);
    expect(taskIds).toHaveLength(4);
    for (const id of [...ids, ...taskIds]) expect(text).not.toContain(id);
    const values = samples.flatMap((s) => Object.values(s.labels));
    expect(values.filter((v) => /[0-9a-f]{8}-[0-9a-f]{4}-/i.test(v))).toEqual([]);
  });

  it('refuses callers without metrics:read: members, viewers, admin keys lacking it, no key', async () => {
    const member = await memberWithKey(store, { name: 'M', email: 'm@example.com' }, 'm');
    const refused = await call('GET', '/metrics', undefined, member.key);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().detail).toMatch(/metrics:read/);
    const viewer = (await store.system.insertUserIfAbsent({
      name: 'V',
      email: 'v@example.com',
      role: 'viewer',
    }))!;
    const viewerKey = generateApiKey();
    await store
      .as({ userId: viewer.id, role: 'viewer' })
      .apiKeys.create({ name: 'v', prefix: viewerKey.prefix, hash: viewerKey.hash, scopes: ['*'] });
    expect((await call('GET', '/metrics', undefined, viewerKey.key)).statusCode).toBe(403);
    const narrow = await call('POST', '/api/v1/keys', { name: 'runs only', scopes: ['runs:read'] });
    expect((await call('GET', '/metrics', undefined, narrow.json().key)).statusCode).toBe(403);
    const scoped = await call('POST', '/api/v1/keys', { name: 'scraper', scopes: ['metrics:read'] });
    expect((await call('GET', '/metrics', undefined, scoped.json().key)).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
  });

  it('shows run totals in RunView and the overview, scoped to the caller', async () => {
    const [id] = await runToCompletion(2);
    const run = (await call('GET', `/api/v1/runs/${id}`)).json();
    expect(run.tokens).toEqual({ input: 12, output: 7, total: 19 });
    expect(run.cost).toBeCloseTo(0.026, 9);
    expect(run.steps.sum.tokens).toEqual({ input: 12, output: 7, total: 19 });
    expect(run.steps.greet.tokens).toEqual({ input: 0, output: 0, total: 0 });
    expect(run.steps.greet.durationMs).toBeGreaterThanOrEqual(0);
    expect(run.steps.sum.cost).toBeCloseTo(0.026, 9);
    const listed = (await call('GET', '/api/v1/runs?limit=5')).json().items;
    expect(listed.map((r: { tokens: unknown }) => r.tokens)).toEqual([
      { input: 12, output: 7, total: 19 },
      { input: 12, output: 7, total: 19 },
    ]);

    const res = await call('GET', '/api/v1/metrics/overview?since=1h&bucket=60');
    expect(res.statusCode, res.body).toBe(200);
    const view = res.json();
    expect(view.bucketSeconds).toBe(60);
    expect(view.buckets).toHaveLength(60);
    expect(view.totals).toMatchObject({
      runsStarted: 2,
      runsCompleted: 2,
      runsFailed: 0,
      successRate: 1,
      steps: 4,
      inputTokens: 24,
      outputTokens: 14,
      tokens: 38,
    });
    expect(view.totals.cost).toBeCloseTo(0.052, 9);
    expect(view.totals.durationP50Ms).toBeGreaterThanOrEqual(0);
    expect(view.totals.durationP95Ms).toBeGreaterThanOrEqual(view.totals.durationP50Ms);
    // The buckets add up to the totals.
    const added = (key: string) =>
      view.buckets.reduce((n: number, b: Record<string, number>) => n + b[key]!, 0);
    expect(added('runsStarted')).toBe(2);
    expect(added('steps')).toBe(4);
    expect(added('tokens')).toBe(38);
    expect(view.queueDepth).toEqual([]);
    expect(view.activeWorkers).toBe(0);
    expect(view.truncated).toBe(false);

    // Another owner sees none of it.
    const member = await memberWithKey(store, { name: 'M', email: 'm@example.com' }, 'm');
    const theirs = (await call('GET', '/api/v1/metrics/overview?since=24h', undefined, member.key)).json();
    expect(theirs.totals).toMatchObject({ runsStarted: 0, steps: 0, tokens: 0 });
  });

  it('counts the queue by status and priority while tasks wait, and refuses bad ranges naming the field', async () => {
    await worker.stop(1000);
    const res = await call('POST', '/api/v1/workflows/metered/runs', { input: { who: 'Q' } });
    expect(res.statusCode).toBe(202);
    const { samples } = await scrape();
    expect(sum(samples, 'swarm_queue_depth', { status: 'PENDING', priority: '5' })).toBe(1);
    expect(sum(samples, 'swarm_runs', { status: 'running' })).toBe(1);
    const view = (await call('GET', '/api/v1/metrics/overview?since=15m')).json();
    expect(view.queueDepth).toEqual([{ status: 'PENDING', priority: 5, count: 1 }]);
    expect(view.totals.runsStarted).toBe(1);

    for (const [query, field] of [
      ['since=yesterday', 'since'],
      ['since=40d', 'since'],
      ['since=2999-01-01T00:00:00Z', 'since'],
      ['since=7d&bucket=1', 'bucket'],
      ['bucket=0', 'querystring.bucket'],
    ] as const) {
      const bad = await call('GET', `/api/v1/metrics/overview?${query}`);
      expect(bad.statusCode, query).toBe(400);
      expect(bad.json().errors, query).toEqual([expect.objectContaining({ field })]);
    }
  });
});
