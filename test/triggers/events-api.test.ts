import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { Engine } from '../../src/engine/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';

describe.each(DIALECTS)('events API on %s', (dialect) => {
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
    app = await buildApp({ store, engine: new Engine(store) });
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  function call(method: 'GET' | 'POST', url: string, payload?: unknown, asKey = key) {
    return app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${asKey}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  }

  it('publishes an event for the caller (202 with its id) and lists it', async () => {
    const res = await call('POST', '/api/v1/events', {
      source: 'github',
      type: 'push',
      payload: { ref: 'main' },
    });
    expect(res.statusCode).toBe(202);
    const { id } = res.json();
    expect(id).toEqual(expect.any(String));
    await call('POST', '/api/v1/events', { source: 'shop', type: 'order.created' });

    const listed = (await call('GET', '/api/v1/events')).json().items;
    expect(listed).toHaveLength(2);
    const pushed = listed.find((e: { id: string }) => e.id === id);
    expect(pushed).toMatchObject({
      id,
      source: 'github',
      type: 'push',
      payload: { ref: 'main' },
      attempts: 0,
      lastError: null,
      runId: null,
      // Published through the API: no run caused it, the start of a causation chain.
      depth: 0,
      dispatchedAt: null,
    });
    expect(['pending', 'dispatched', 'failed']).toContain(pushed.status);
    expect(listed.find((e: { id: string }) => e.id !== id).payload).toEqual({});

    const byType = (await call('GET', '/api/v1/events?type=push')).json().items;
    expect(byType.map((e: { id: string }) => e.id)).toEqual([id]);
    expect((await call('GET', '/api/v1/events?limit=1')).json().items).toHaveLength(1);
    expect((await call('GET', '/api/v1/events?status=nope')).statusCode).toBe(400);
    const badLimit = await call('GET', '/api/v1/events?limit=0');
    expect(badLimit.statusCode).toBe(400);
    expect(badLimit.json().errors[0].field).toBe('limit');
    // Another user sees none of them.
    expect((await call('GET', '/api/v1/events', undefined, other)).json().items).toEqual([]);
  });

  it('refuses the reserved source and bad names with 400 naming the field', async () => {
    for (const source of ['swarm', 'Swarm']) {
      const res = await call('POST', '/api/v1/events', { source, type: 'run.completed' });
      expect(res.statusCode).toBe(400);
      expect(res.json().errors[0].field).toBe('source');
      expect(res.json().detail).toMatch(/reserved/);
    }
    for (const [body, field] of [
      [{ source: '', type: 'x' }, 'source'],
      [{ source: 'a b', type: 'x' }, 'source'],
      [{ source: 'x'.repeat(201), type: 'x' }, 'source'],
      [{ source: 'ok', type: '' }, 'type'],
      [{ source: 'ok' }, 'type'],
      [{ source: 'ok', type: 'x', extra: 1 }, 'extra'],
      [{ source: 'ok', type: 'x', idempotencyKey: '' }, 'idempotencyKey'],
    ] as const) {
      const res = await call('POST', '/api/v1/events', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().errors[0].field).toMatch(new RegExp(field));
    }
    expect(await store.handle.db.selectFrom('events').selectAll().execute()).toEqual([]);
  });

  it('stores one event per idempotency key, per user', async () => {
    const body = { source: 'shop', type: 'order.created', payload: { n: 1 }, idempotencyKey: 'order-1' };
    const first = (await call('POST', '/api/v1/events', body)).json().id;
    const again = await call('POST', '/api/v1/events', { ...body, payload: { n: 2 } });
    expect(again.statusCode).toBe(202);
    expect(again.json().id).toBe(first);
    const theirs = (await call('POST', '/api/v1/events', body, other)).json().id;
    expect(theirs).not.toBe(first);
    const mine = (await call('GET', '/api/v1/events')).json().items;
    expect(mine).toHaveLength(1);
    expect(mine[0].payload).toEqual({ n: 1 });
  });
});
