import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { Engine } from '../../src/engine/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store, toDbTimestamp } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';

const steps = [{ id: 'a', agent: 'builtin/transform', input: { x: '{{ trigger.x }}' } }];
const webhook = (version = '1.0.0', path = 'orders/new') => ({
  name: 'on-order',
  version,
  trigger: { type: 'webhook', path },
  steps,
});
const schedule = {
  name: 'nightly',
  version: '1.0.0',
  trigger: { type: 'schedule', cron: '0 3 * * *', timezone: 'Europe/Berlin' },
  steps,
};
const event = {
  name: 'on-push',
  version: '1.0.0',
  trigger: { type: 'event', source: 'github', event_type: 'push' },
  steps,
};

describe.each(DIALECTS)('triggers API on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let key: string;
  let other: string;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    key = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!.key;
    other = (await memberWithKey(store, { name: 'Bob', email: 'bob@example.com' }, 'bob')).key;
    const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));
    app = await buildApp({ store, engine: new Engine(store), keyring });
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  function call(method: 'GET' | 'POST' | 'PATCH', url: string, payload?: unknown, asKey = key) {
    return app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${asKey}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  }

  it('applies a webhook workflow: the url, and the secret once', async () => {
    const first = await call('POST', '/api/v1/workflows', webhook());
    expect(first.statusCode).toBe(201);
    const { trigger } = first.json();
    expect(trigger).toMatchObject({ type: 'webhook', path: 'orders/new', url: '/hooks/orders/new' });
    expect(trigger.id).toEqual(expect.any(String));
    expect(trigger.secret).toMatch(/^whsec_/);

    const again = await call('POST', '/api/v1/workflows', webhook());
    expect(again.statusCode).toBe(200);
    expect(again.json().trigger).toEqual({
      type: 'webhook',
      id: trigger.id,
      path: 'orders/new',
      url: '/hooks/orders/new',
    });
    const next = await call('POST', '/api/v1/workflows', webhook('1.1.0'));
    expect(next.statusCode).toBe(201);
    expect(next.json().trigger.secret).toBeUndefined();
    expect(next.json().trigger.id).toBe(trigger.id);

    const manual = await call('POST', '/api/v1/workflows', { name: 'plain', version: '1.0.0', steps });
    expect(manual.json().trigger).toBeNull();
  });

  it('lists, shows, enables and disables triggers, never with a secret', async () => {
    const { trigger } = (await call('POST', '/api/v1/workflows', webhook())).json();
    await call('POST', '/api/v1/workflows', schedule);
    await call('POST', '/api/v1/workflows', event);

    const all = await call('GET', '/api/v1/triggers');
    expect(all.statusCode).toBe(200);
    expect(all.json().items.map((t: { workflow: string }) => t.workflow)).toEqual([
      'nightly',
      'on-order',
      'on-push',
    ]);
    const text = all.body;
    expect(text).not.toContain(trigger.secret);
    expect(text).not.toMatch(/secret"\s*:/);

    const webhooks = (await call('GET', '/api/v1/triggers?type=webhook')).json().items;
    expect(webhooks).toEqual([
      expect.objectContaining({ id: trigger.id, type: 'webhook', enabled: true, url: '/hooks/orders/new' }),
    ]);
    expect((await call('GET', '/api/v1/triggers?type=manual')).statusCode).toBe(400);

    const byName = (await call('GET', '/api/v1/triggers/nightly')).json();
    expect(byName).toMatchObject({
      type: 'schedule',
      cron: '0 3 * * *',
      timezone: 'Europe/Berlin',
      misfire: 'skip',
      catchUpLimit: 10,
    });
    expect(Date.parse(byName.nextRunAt)).toBeGreaterThan(Date.now());
    expect((await call('GET', `/api/v1/triggers/${trigger.id}`)).json().workflow).toBe('on-order');
    expect((await call('GET', '/api/v1/triggers/on-push')).json()).toMatchObject({
      eventSource: 'github',
      eventType: 'push',
    });

    const disabled = await call('POST', '/api/v1/triggers/on-order/disable');
    expect(disabled.statusCode).toBe(200);
    expect(disabled.json()).toMatchObject({ enabled: false });
    expect((await call('POST', '/api/v1/triggers/on-order/enable', {})).json()).toMatchObject({
      enabled: true,
    });
    // Enabling or disabling the workflow leaves its trigger's own flag alone.
    await call('PATCH', '/api/v1/workflows/on-order', { enabled: false });
    expect((await call('GET', '/api/v1/triggers/on-order')).json().enabled).toBe(true);
  });

  it('rotates a webhook secret once, with a grace for the old one', async () => {
    const { trigger } = (await call('POST', '/api/v1/workflows', webhook())).json();
    const rotated = await call('POST', '/api/v1/triggers/on-order/rotate-secret', { graceSeconds: 600 });
    expect(rotated.statusCode).toBe(200);
    const body = rotated.json();
    expect(body.secret).toMatch(/^whsec_/);
    expect(body.secret).not.toBe(trigger.secret);
    const until = Date.parse(body.trigger.previousSecretValidUntil);
    expect(until).toBeGreaterThan(Date.now() + 590_000);
    expect(until).toBeLessThan(Date.now() + 610_000);
    expect((await call('GET', '/api/v1/triggers/on-order')).body).not.toContain(body.secret);

    const noGrace = (
      await call('POST', '/api/v1/triggers/on-order/rotate-secret', { graceSeconds: 0 })
    ).json();
    expect(noGrace.trigger.previousSecretValidUntil).toBeNull();

    await call('POST', '/api/v1/workflows', schedule);
    const notWebhook = await call('POST', '/api/v1/triggers/nightly/rotate-secret');
    expect(notWebhook.statusCode).toBe(409);
  });

  it('answers the next ticks of a schedule and the firings of a trigger', async () => {
    await call('POST', '/api/v1/workflows', schedule);
    const next = await call('GET', '/api/v1/triggers/nightly/next?count=3');
    expect(next.statusCode).toBe(200);
    const { times } = next.json();
    expect(times).toHaveLength(3);
    // 03:00 in Berlin is 01:00 or 02:00 UTC, a day apart.
    for (const time of times) expect(time).toMatch(/T0[12]:00:00\.000Z$/);
    expect(Date.parse(times[1]) - Date.parse(times[0])).toBeGreaterThanOrEqual(23 * 3600_000);
    expect((await call('GET', '/api/v1/triggers/nightly/next')).json().times).toHaveLength(5);

    const trigger = (await call('GET', '/api/v1/triggers/nightly')).json();
    expect((await call('GET', '/api/v1/triggers/nightly/firings')).json()).toEqual({ items: [] });
    const owner = (await store.handle.db.selectFrom('triggers').select('owner_id').executeTakeFirstOrThrow())
      .owner_id;
    await store.handle.db
      .insertInto('trigger_firings')
      .values({
        id: 'f1',
        owner_id: owner,
        trigger_id: trigger.id,
        fire_key: '2030-01-01T02:00:00.000Z',
        status: 'skipped',
        error: 'missed',
        scheduled_for: toDbTimestamp('2030-01-01T02:00:00.000Z'),
      })
      .execute();
    const firings = (await call('GET', '/api/v1/triggers/nightly/firings?limit=10')).json().items;
    expect(firings).toEqual([
      expect.objectContaining({ id: 'f1', status: 'skipped', error: 'missed', runId: null }),
    ]);

    await call('POST', '/api/v1/workflows', webhook());
    expect((await call('GET', '/api/v1/triggers/on-order/next')).statusCode).toBe(409);
  });

  it('refuses bad count, limit and grace with 400 naming the field', async () => {
    await call('POST', '/api/v1/workflows', schedule);
    await call('POST', '/api/v1/workflows', webhook());
    for (const [url, field] of [
      ['/api/v1/triggers/nightly/next?count=0', 'count'],
      ['/api/v1/triggers/nightly/next?count=101', 'count'],
      ['/api/v1/triggers/nightly/next?count=x', 'count'],
      ['/api/v1/triggers/nightly/firings?limit=0', 'limit'],
    ] as const) {
      const res = await call('GET', url);
      expect(res.statusCode, url).toBe(400);
      expect(res.json().errors[0].field).toMatch(new RegExp(field));
    }
    for (const grace of [-1, 2_592_001, 1.5, 'soon']) {
      const res = await call('POST', '/api/v1/triggers/on-order/rotate-secret', { graceSeconds: grace });
      expect(res.statusCode, String(grace)).toBe(400);
      expect(res.json().errors[0].field).toMatch(/graceSeconds/);
    }
  });

  it("hides another user's triggers: 404", async () => {
    const { trigger } = (await call('POST', '/api/v1/workflows', webhook())).json();
    expect((await call('GET', '/api/v1/triggers', undefined, other)).json().items).toEqual([]);
    for (const url of [
      `/api/v1/triggers/${trigger.id}`,
      '/api/v1/triggers/on-order',
      '/api/v1/triggers/on-order/firings',
    ]) {
      expect((await call('GET', url, undefined, other)).statusCode, url).toBe(404);
    }
    for (const action of ['enable', 'disable', 'rotate-secret'])
      expect((await call('POST', `/api/v1/triggers/on-order/${action}`, {}, other)).statusCode).toBe(404);
  });

  it('refuses a webhook path another user holds with 409, storing no version', async () => {
    await call('POST', '/api/v1/workflows', webhook());
    const taken = await call('POST', '/api/v1/workflows', { ...webhook(), name: 'mine' }, other);
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ code: 'CONFLICT' });
    expect(taken.json().detail).toMatch(/orders\/new/);
    expect((await call('GET', '/api/v1/workflows/mine', undefined, other)).statusCode).toBe(404);
    // The same user's other workflow may not have it either.
    const mine = await call('POST', '/api/v1/workflows', { ...webhook(), name: 'second' });
    expect(mine.statusCode).toBe(409);
    expect((await call('GET', '/api/v1/workflows/second')).statusCode).toBe(404);
    const rows = await store.handle.db.selectFrom('triggers').select('workflow_name').execute();
    expect(rows.map((r) => r.workflow_name)).toEqual(['on-order']);
  });
});
