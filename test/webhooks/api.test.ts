import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { openKeyring, type Keyring } from '../../src/secrets/index.js';
import { buildApp } from '../../src/server/index.js';
import { newId, Store } from '../../src/storage/index.js';
import { createDeliveries, DeliveryWorker } from '../../src/webhooks/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';
import { startReceiver, verifyStandardWebhook } from './receiver.js';

describe.each(DIALECTS)('webhooks API on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let keyring: Keyring;
  let app: FastifyInstance;
  let adminKey: string;
  let adminId: string;
  let memberKey: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    adminKey = (await bootstrapAdmin(store, testDb.dir, 'http://127.0.0.1:0'))!.key;
    adminId = (await store.system.findFirstAdmin())!.id;
    memberKey = (await memberWithKey(store, { name: 'Mallory', email: 'm@x' }, 'k')).key;
    keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));
    app = await buildApp({ store, keyring });
    receiver = await startReceiver([500, 200]);
  });
  afterEach(async () => {
    await receiver.close();
    await app.close();
    await store.close();
    await testDb.drop();
  });

  function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, key = adminKey) {
    return app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${key}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  }

  const webhookCount = async () =>
    (await store.handle.db.selectFrom('webhooks').select('id').execute()).length;

  async function deliverOnce(now = new Date()) {
    const worker = new DeliveryWorker({
      store,
      keyring,
      logger: pino({ level: 'silent' }),
      allowPrivateNetworks: true,
      backoff: { baseMs: 1 },
    });
    return worker.runOnce(now);
  }

  it('creates a webhook, shows its secret once, and never again', async () => {
    const res = await call('POST', '/api/v1/webhooks', {
      name: 'ops',
      url: receiver.url,
      eventTypes: ['run.*', 'task.failed'],
      description: 'to the ops channel',
    });
    expect(res.statusCode).toBe(201);
    const { webhook, secret } = res.json();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(webhook).toEqual({
      id: expect.any(String),
      name: 'ops',
      url: receiver.url,
      description: 'to the ops channel',
      eventTypes: ['run.*', 'task.failed'],
      active: true,
      failureCount: 0,
      lastDeliveryAt: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const stored = await store.handle.db.selectFrom('webhooks').selectAll().executeTakeFirstOrThrow();
    expect(stored.secret).toMatch(/^v1:/);
    expect(stored.secret).not.toContain(secret.slice(6));

    const list = await call('GET', '/api/v1/webhooks');
    expect(list.json().items).toEqual([webhook]);
    const one = await call('GET', `/api/v1/webhooks/${webhook.id}`);
    expect(one.json()).toEqual(webhook);
    for (const body of [list.body, one.body]) {
      expect(body).not.toContain(secret.slice(6));
      expect(body).not.toContain('secret');
    }

    const given = `whsec_${randomBytes(24).toString('base64')}`;
    const mine = await call('POST', '/api/v1/webhooks', {
      name: 'm',
      url: receiver.url,
      eventTypes: ['*'],
      secret: given,
    });
    expect(mine.json().secret).toBe(given);

    const rotated = await call('POST', `/api/v1/webhooks/${webhook.id}/rotate-secret`);
    expect(rotated.statusCode).toBe(200);
    expect(rotated.json().secret).toMatch(/^whsec_/);
    expect(rotated.json().secret).not.toBe(secret);
  });

  it.each([
    [{ name: '', url: 'https://example.com', eventTypes: ['*'] }, 'body.name'],
    [{ name: '   ', url: 'https://example.com', eventTypes: ['*'] }, 'name'],
    [{ name: 'a', url: 'ftp://example.com/x', eventTypes: ['*'] }, 'url'],
    [{ name: 'a', url: 'not a url', eventTypes: ['*'] }, 'url'],
    [{ name: 'a', url: 'https://example.com', eventTypes: [] }, 'body.eventTypes'],
    [{ name: 'a', url: 'https://example.com', eventTypes: ['run completed'] }, 'body.eventTypes.0'],
    [{ name: 'a', url: 'https://example.com', eventTypes: ['*.completed'] }, 'eventTypes[0]'],
    [{ name: 'a', url: 'https://example.com', eventTypes: 'run.completed' }, 'body.eventTypes'],
    [{ name: 'a', url: 'https://example.com', eventTypes: ['*'], secret: 'whsec_c2hvcnQ=' }, 'secret'],
    [{ name: 'a', url: 'https://example.com', eventTypes: ['*'], secret: 'hunter2hunter2' }, 'secret'],
    [{ name: 'a', url: 'https://example.com', eventTypes: ['*'], colour: 'red' }, 'body.colour'],
    [{ url: 'https://example.com', eventTypes: ['*'] }, 'body.name'],
  ])('refuses bad input %j naming %s, writing nothing', async (payload, field) => {
    const res = await call('POST', '/api/v1/webhooks', payload);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'INPUT_INVALID' });
    expect(res.json().errors[0].field).toBe(field);
    if ('secret' in payload) expect(res.body).not.toContain(payload.secret);
    expect(await webhookCount()).toBe(0);
  });

  it('updates, disables and deletes a webhook', async () => {
    const { webhook } = (
      await call('POST', '/api/v1/webhooks', { name: 'a', url: receiver.url, eventTypes: ['*'] })
    ).json();
    const patched = await call('PATCH', `/api/v1/webhooks/${webhook.id}`, {
      active: false,
      eventTypes: ['run.completed'],
      url: 'https://example.com/hook',
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({
      active: false,
      eventTypes: ['run.completed'],
      url: 'https://example.com/hook',
    });
    const bad = await call('PATCH', `/api/v1/webhooks/${webhook.id}`, { url: 'file:///etc/passwd' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].field).toBe('url');
    expect((await call('PATCH', `/api/v1/webhooks/${webhook.id}`, {})).statusCode).toBe(400);
    expect((await call('GET', `/api/v1/webhooks/${webhook.id}`)).json().url).toBe('https://example.com/hook');
    expect((await call('DELETE', `/api/v1/webhooks/${webhook.id}`)).statusCode).toBe(204);
    expect((await call('GET', `/api/v1/webhooks/${webhook.id}`)).statusCode).toBe(404);
    expect((await call('DELETE', `/api/v1/webhooks/${webhook.id}`)).statusCode).toBe(404);
  });

  it('lists deliveries, shows one with its attempts, and redelivers it', async () => {
    const { webhook, secret } = (
      await call('POST', '/api/v1/webhooks', { name: 'a', url: receiver.url, eventTypes: ['run.*'] })
    ).json();
    const event = {
      id: newId(),
      ownerId: adminId,
      source: 'swarm',
      type: 'run.failed',
      payload: { run_id: 'r9', error: 'boom' },
      createdAt: new Date().toISOString(),
    };
    await store.dialect.writeTransaction(store.handle.db, (trx) =>
      createDeliveries(trx, store.dialect, event),
    );
    expect(await deliverOnce()).toBe(1); // 500
    expect(await deliverOnce(new Date(Date.now() + 60_000))).toBe(1); // 200

    const list = await call('GET', `/api/v1/webhooks/${webhook.id}/deliveries`);
    expect(list.statusCode).toBe(200);
    const [delivery] = list.json().items;
    expect(delivery).toMatchObject({
      webhookId: webhook.id,
      eventId: event.id,
      eventType: 'run.failed',
      status: 'succeeded',
      attemptCount: 2,
      lastStatusCode: 200,
    });
    expect(
      (await call('GET', `/api/v1/webhooks/${webhook.id}/deliveries?status=failed`)).json().items,
    ).toEqual([]);
    const badStatus = await call('GET', `/api/v1/webhooks/${webhook.id}/deliveries?status=lost`);
    expect(badStatus.statusCode).toBe(400);
    expect(badStatus.json().errors[0].field).toBe('querystring.status');

    const detail = (await call('GET', `/api/v1/webhook-deliveries/${delivery.id}`)).json();
    expect(detail.payload).toEqual({
      type: 'run.failed',
      timestamp: event.createdAt,
      data: { run_id: 'r9', error: 'boom', source: 'swarm', event_id: event.id },
    });
    expect(detail.attempts).toEqual([
      expect.objectContaining({ attempt: 1, statusCode: 500, error: expect.stringMatching(/^HTTP 500/) }),
      expect.objectContaining({ attempt: 2, statusCode: 200, error: null }),
    ]);
    expect(detail.attempts[0].latencyMs).toBeGreaterThanOrEqual(0);

    const again = await call('POST', `/api/v1/webhook-deliveries/${delivery.id}/redeliver`);
    expect(again.statusCode).toBe(202);
    expect(again.json()).toMatchObject({ id: delivery.id, status: 'pending', attemptCount: 0 });
    expect(await deliverOnce()).toBe(1);
    const after = (await call('GET', `/api/v1/webhook-deliveries/${delivery.id}`)).json();
    expect(after).toMatchObject({ status: 'succeeded', attemptCount: 1 });
    expect(after.attempts.map((a: { attempt: number }) => a.attempt)).toEqual([1, 2, 3]);
    expect(receiver.received).toHaveLength(3);
    for (const r of receiver.received) {
      expect(r.headers['webhook-id']).toBe(delivery.id);
      expect(verifyStandardWebhook(secret, r.headers, r.body, 3600)).toBe(true);
    }

    const test = await call('POST', `/api/v1/webhooks/${webhook.id}/test`);
    expect(test.statusCode).toBe(202);
    expect(test.json()).toMatchObject({ eventType: 'webhook.test', status: 'pending' });
  });

  it("keeps one user's webhooks and deliveries from another", async () => {
    const { webhook } = (
      await call('POST', '/api/v1/webhooks', { name: 'a', url: receiver.url, eventTypes: ['*'] })
    ).json();
    const event = {
      id: newId(),
      ownerId: adminId,
      source: 'swarm',
      type: 'x',
      payload: {},
      createdAt: new Date().toISOString(),
    };
    await store.dialect.writeTransaction(store.handle.db, (trx) =>
      createDeliveries(trx, store.dialect, event),
    );
    const delivery = (await call('GET', `/api/v1/webhooks/${webhook.id}/deliveries`)).json().items[0];

    expect((await call('GET', '/api/v1/webhooks', undefined, memberKey)).json().items).toEqual([]);
    for (const [method, url, body] of [
      ['GET', `/api/v1/webhooks/${webhook.id}`],
      ['PATCH', `/api/v1/webhooks/${webhook.id}`, { active: false }],
      ['DELETE', `/api/v1/webhooks/${webhook.id}`],
      ['POST', `/api/v1/webhooks/${webhook.id}/rotate-secret`],
      ['POST', `/api/v1/webhooks/${webhook.id}/test`],
      ['GET', `/api/v1/webhooks/${webhook.id}/deliveries`],
      ['GET', `/api/v1/webhook-deliveries/${delivery.id}`],
      ['POST', `/api/v1/webhook-deliveries/${delivery.id}/redeliver`],
    ] as const) {
      const res = await call(method, url, body, memberKey);
      expect(res.statusCode, `${method} ${url}`).toBe(404);
    }
    // The member's own webhook does not get the admin's events.
    await call('POST', '/api/v1/webhooks', { name: 'm', url: receiver.url, eventTypes: ['*'] }, memberKey);
    const second = { ...event, id: newId() };
    expect(
      await store.dialect.writeTransaction(store.handle.db, (trx) =>
        createDeliveries(trx, store.dialect, second),
      ),
    ).toBe(1);
    expect((await call('GET', `/api/v1/webhooks/${webhook.id}`)).json().active).toBe(true);
    expect((await call('GET', '/api/v1/webhooks')).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/api/v1/webhooks' })).statusCode).toBe(401);
  });

  it('describes the routes in the OpenAPI document under the webhooks tag', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
    const paths = Object.keys(doc.paths).filter((p) => p.includes('webhook'));
    expect(paths).toEqual(
      expect.arrayContaining([
        '/api/v1/webhooks',
        '/api/v1/webhooks/{id}',
        '/api/v1/webhooks/{id}/deliveries',
        '/api/v1/webhook-deliveries/{id}',
        '/api/v1/webhook-deliveries/{id}/redeliver',
      ]),
    );
    expect(doc.paths['/api/v1/webhooks'].post.tags).toEqual(['webhooks']);
  });
});
