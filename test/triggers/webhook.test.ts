import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { Engine } from '../../src/engine/index.js';
import { Registry } from '../../src/registry/index.js';
import { openKeyring, type Keyring } from '../../src/secrets/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store, type Caller } from '../../src/storage/index.js';
import {
  signPayload,
  syncTriggers,
  TriggerService,
  verifySignature,
  type SyncedTrigger,
} from '../../src/triggers/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

const SECRET = 'whsec_test';
const NOW = new Date('2026-01-01T00:00:00Z');
const T = Math.floor(NOW.getTime() / 1000);

describe('verifySignature', () => {
  const body = Buffer.from('{"a":1}');

  it('accepts a signature of any accepted secret, among several v1 entries', () => {
    expect(verifySignature(signPayload(SECRET, body, T), body, [SECRET], NOW)).toEqual({
      ok: true,
      timestamp: T,
    });
    const both = signPayload(['whsec_other', SECRET], body, T);
    expect(both.split(',')).toHaveLength(3);
    expect(verifySignature(both, body, [SECRET], NOW).ok).toBe(true);
    expect(verifySignature(signPayload('whsec_old', body, T), body, [SECRET, 'whsec_old'], NOW).ok).toBe(
      true,
    );
    // Unknown schemes are skipped; whitespace around entries is allowed.
    const withV0 = `v0=abc, ${signPayload(SECRET, body, T).replace(',', ' , ')}`;
    expect(verifySignature(withV0, body, [SECRET], NOW).ok).toBe(true);
  });

  it('names why a signature is rejected', () => {
    const reason = (header: string | undefined, secrets = [SECRET], now = NOW) => {
      const check = verifySignature(header, body, secrets, now);
      return check.ok ? 'ok' : check.reason;
    };
    expect(reason(undefined)).toBe('missing_header');
    expect(reason('  ')).toBe('missing_header');
    for (const bad of [
      'garbage',
      `t=${T}`,
      'v1=' + '0'.repeat(64),
      `t=${T},v1=xyz`,
      `t=${T},v1=${'0'.repeat(63)}`,
      `t=abc,v1=${'0'.repeat(64)}`,
      `t=${T},t=${T},v1=${'0'.repeat(64)}`,
      `t=${T},${Array.from({ length: 9 }, () => `v1=${'0'.repeat(64)}`).join(',')}`,
      'x'.repeat(5000),
    ]) {
      expect(reason(bad), bad.slice(0, 40)).toBe('malformed_header');
    }
    expect(reason(signPayload(SECRET, body, T - 301))).toBe('timestamp_too_old');
    expect(reason(signPayload(SECRET, body, T + 301))).toBe('timestamp_in_future');
    expect(reason(signPayload(SECRET, body, T - 300))).toBe('ok');
    expect(reason(signPayload(SECRET, body, T + 300))).toBe('ok');
    expect(reason(signPayload('whsec_wrong', body, T))).toBe('no_matching_signature');
    expect(reason(signPayload(SECRET, '{"a":2}', T))).toBe('no_matching_signature');
    expect(reason(signPayload(SECRET, body, T), [])).toBe('no_matching_signature');
  });
});

describe.each(DIALECTS)('incoming webhooks on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let keyring: Keyring;
  let app: FastifyInstance;
  let caller: Caller;
  let hook: SyncedTrigger;
  let started = 0;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    const admin = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!;
    caller = { userId: admin.user.id, role: admin.user.role };
    keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));
    started = 0;
    app = await buildApp({
      store,
      engine: new Engine(store),
      keyring,
      onRunStarted: () => void started++,
      webhookBodyLimit: 1024,
    });
    const { workflow } = await new Registry(store).as(caller).workflows.apply({
      name: 'on-order',
      version: '1.0.0',
      trigger: { type: 'webhook', path: 'shop/orders' },
      steps: [{ id: 'a', agent: 'builtin/transform', input: { order: '{{ trigger.id }}' } }],
    });
    [hook] = (await syncTriggers(store, keyring, caller, [workflow])) as [SyncedTrigger];
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  function deliver(
    body: string,
    options: { secret?: string | string[]; t?: number; type?: string; headers?: Record<string, string> } = {},
  ) {
    return app.inject({
      method: 'POST',
      url: '/hooks/shop/orders',
      payload: body,
      headers: {
        'content-type': options.type ?? 'application/json',
        'x-swarm-signature': signPayload(options.secret ?? hook.secret!, body, options.t),
        'user-agent': 'shop/1.0',
        ...options.headers,
      },
    });
  }

  const count = async (table: 'workflow_runs' | 'trigger_firings' | 'audit_logs') =>
    Number(
      (
        await store.handle.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('starts exactly one run with the body as its trigger data', async () => {
    expect(hook).toMatchObject({ path: 'shop/orders', secret: expect.stringMatching(/^whsec_/) });
    const res = await deliver('{"id":"o-1","total":5}');
    expect(res.statusCode).toBe(202);
    const { runId, duplicate } = res.json();
    expect(duplicate).toBe(false);
    expect(started).toBe(1);
    expect(await count('workflow_runs')).toBe(1);
    const run = await store.handle.db
      .selectFrom('workflow_runs')
      .selectAll()
      .where('id', '=', runId)
      .executeTakeFirstOrThrow();
    expect(run.trigger_type).toBe('webhook');
    expect(run.trigger_id).toBe(hook.id);
    expect(JSON.parse(run.trigger_data!)).toEqual({ id: 'o-1', total: 5 });
    const firing = await store.handle.db.selectFrom('trigger_firings').selectAll().executeTakeFirstOrThrow();
    expect(firing).toMatchObject({
      run_id: runId,
      status: 'started',
      fire_key: expect.stringMatching(/^req:/),
    });
    const task = await store.handle.db.selectFrom('tasks').selectAll().executeTakeFirstOrThrow();
    expect(JSON.parse(task.input_data)).toEqual({ order: 'o-1' });
    // Without a delivery id every request is its own delivery.
    expect((await deliver('{"id":"o-1","total":5}')).statusCode).toBe(202);
    expect(await count('workflow_runs')).toBe(2);
  });

  it('parses form and text bodies and a +json type', async () => {
    const form = await deliver('a=1&b=2&b=3', { type: 'application/x-www-form-urlencoded' });
    const text = await deliver('hello', { type: 'text/plain; charset=utf-8' });
    const json = await deliver('{"x":true}', { type: 'application/vnd.shop+json' });
    const data = async (res: typeof form) => {
      expect(res.statusCode).toBe(202);
      const row = await store.handle.db
        .selectFrom('workflow_runs')
        .select('trigger_data')
        .where('id', '=', res.json().runId)
        .executeTakeFirstOrThrow();
      return JSON.parse(row.trigger_data!);
    };
    expect(await data(form)).toEqual({ a: '1', b: ['2', '3'] });
    expect(await data(text)).toEqual({ text: 'hello' });
    expect(await data(json)).toEqual({ x: true });
  });

  it('starts one run per Idempotency-Key, also for concurrent resends', async () => {
    const headers = { 'idempotency-key': 'delivery-1' };
    const first = await deliver('{"n":1}', { headers });
    expect(first.statusCode).toBe(202);
    const again = await deliver('{"n":1}', { headers });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ runId: first.json().runId, duplicate: true, status: 'started' });
    expect(await count('workflow_runs')).toBe(1);
    expect(started).toBe(1);

    const concurrent = await Promise.all(
      Array.from({ length: 5 }, () => deliver('{"n":2}', { headers: { 'idempotency-key': 'delivery-2' } })),
    );
    const ids = new Set(concurrent.map((r) => r.json().runId));
    expect(ids.size).toBe(1);
    expect(concurrent.map((r) => r.statusCode).sort()).toEqual([200, 200, 200, 200, 202]);
    expect(await count('workflow_runs')).toBe(2);
    expect(await count('trigger_firings')).toBe(2);

    // A sender's own delivery id counts the same way; an overlong one is refused by name.
    const github = { 'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958' };
    expect((await deliver('{}', { headers: github })).statusCode).toBe(202);
    expect((await deliver('{}', { headers: github })).statusCode).toBe(200);
    const long = await deliver('{}', { headers: { 'idempotency-key': 'k'.repeat(201) } });
    expect(long.statusCode).toBe(400);
    expect(long.json().detail).toMatch(/idempotency-key/);
    expect(await count('workflow_runs')).toBe(3);
  });

  it('rejects what it should, starting nothing, and counts bad signatures', async () => {
    const audits = await count('audit_logs');
    const stale = await deliver('{}', { t: Math.floor(Date.now() / 1000) - 600 });
    expect(stale.statusCode).toBe(401);
    expect(stale.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(stale.json()).toMatchObject({ code: 'UNAUTHENTICATED', detail: expect.stringMatching(/old/) });
    expect((await deliver('{}', { secret: 'whsec_wrong' })).statusCode).toBe(401);
    const unsigned = await app.inject({
      method: 'POST',
      url: '/hooks/shop/orders',
      payload: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(unsigned.statusCode).toBe(401);

    const big = await deliver(JSON.stringify({ pad: 'x'.repeat(2000) }));
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({ status: 413 });
    const xml = await deliver('<order/>', { type: 'application/xml' });
    expect(xml.statusCode).toBe(415);
    expect(xml.json()).toMatchObject({ status: 415 });
    const noType = await app.inject({
      method: 'POST',
      url: '/hooks/shop/orders',
      payload: '{}',
      headers: { 'x-swarm-signature': signPayload(hook.secret!, '{}') },
    });
    expect(noType.statusCode).toBe(415);
    expect((await deliver('{not json')).statusCode).toBe(400);
    expect((await deliver('{}')).statusCode).toBe(202);

    // Bad signatures are counted per window, address and reason (not an audit row each), for
    // the trigger's owner to see.
    await app.authFailures.flush();
    expect(await count('audit_logs')).toBe(audits);
    const failures = await store.as(caller).audit.authFailures({ kind: 'webhook' });
    expect(failures.map((f) => f.reason).sort()).toEqual([
      'missing_header',
      'no_matching_signature',
      'timestamp_too_old',
    ]);
    for (const failure of failures) {
      expect(failure).toMatchObject({ resourceId: hook.id, ipAddress: '127.0.0.1', attempts: 1 });
    }
    expect(failures.find((f) => f.reason === 'timestamp_too_old')?.userAgent).toBe('shop/1.0');
    // The last delivery above was a good one: only it started a run.
    expect(await count('workflow_runs')).toBe(1);
    expect(await count('trigger_firings')).toBe(1);
  });

  it('starts nothing for bad deliveries', async () => {
    expect((await deliver('{}', { t: Math.floor(Date.now() / 1000) - 600 })).statusCode).toBe(401);
    expect((await deliver('{}', { secret: 'whsec_wrong' })).statusCode).toBe(401);
    expect((await deliver(JSON.stringify({ pad: 'x'.repeat(2000) }))).statusCode).toBe(413);
    expect((await deliver('<order/>', { type: 'application/xml' })).statusCode).toBe(415);
    expect(await count('workflow_runs')).toBe(0);
    expect(await count('trigger_firings')).toBe(0);
    expect(started).toBe(0);
  });

  it('accepts the old secret during a rotation grace, not after one without', async () => {
    const service = new TriggerService(store, keyring);
    const { secret: second } = await service.rotateSecret(caller, 'on-order');
    expect((await deliver('{}', { secret: hook.secret! })).statusCode).toBe(202);
    expect((await deliver('{}', { secret: second })).statusCode).toBe(202);
    expect((await deliver('{}', { secret: [hook.secret!, second] })).statusCode).toBe(202);
    const { secret: third } = await service.rotateSecret(caller, 'on-order', 0);
    expect((await deliver('{}', { secret: second })).statusCode).toBe(401);
    expect((await deliver('{}', { secret: hook.secret! })).statusCode).toBe(401);
    expect((await deliver('{}', { secret: third })).statusCode).toBe(202);
    expect(await count('workflow_runs')).toBe(4);
  });

  it('answers 404 for an unknown path and a disabled trigger, 409 for a disabled workflow', async () => {
    const unknown = await app.inject({
      method: 'POST',
      url: '/hooks/nope',
      payload: '{}',
      headers: { 'content-type': 'application/json', 'x-swarm-signature': signPayload(hook.secret!, '{}') },
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ code: 'NOT_FOUND' });
    const service = new TriggerService(store, keyring);
    await service.setEnabled(caller, 'on-order', false);
    expect((await deliver('{}')).statusCode).toBe(404);
    await service.setEnabled(caller, 'on-order', true);
    await new Registry(store).as(caller).workflows.setState('on-order', { enabled: false });
    // Refused deliveries write no audit rows (the changes above each wrote theirs).
    const auditsBefore = await count('audit_logs');
    const disabled = await deliver('{}');
    expect(disabled.statusCode).toBe(409);
    expect(await count('workflow_runs')).toBe(0);
    expect(await count('trigger_firings')).toBe(0);
    expect(await count('audit_logs')).toBe(auditsBefore);
  });

  it('is described in the OpenAPI document', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    expect(res.statusCode).toBe(200);
    const op = res.json().paths['/hooks/{*}']?.post ?? res.json().paths['/hooks/*']?.post;
    expect(op).toMatchObject({ tags: ['triggers'], security: [] });
  });
});
