import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raise } from '../../src/alerts/index.js';
import { generateApiKey } from '../../src/auth/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store, type NewAlert } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { bearer } from '../helpers/people.js';

describe.each(DIALECTS)('/api/v1/alerts on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  const users: Record<'alice' | 'bob', { id: string; key: string }> = {} as never;
  let readOnlyKey: string;
  const ids: Record<string, string> = {};

  async function makeKey(userId: string, scopes: string[]): Promise<string> {
    const generated = generateApiKey();
    await store
      .as({ userId, role: 'member' })
      .apiKeys.create({ name: 'k', prefix: generated.prefix, hash: generated.hash, scopes });
    return generated.key;
  }
  const seed = async (alert: Omit<NewAlert, 'title'>) =>
    (await store.handle.dialect.writeTransaction(store.handle.db, (trx) =>
      raise(trx, store.handle.dialect, { title: alert.cause, ...alert }),
    ))!.alert.id;
  const call = (method: 'GET' | 'PATCH', url: string, key: string, payload?: object) =>
    app.inject({ method, url, headers: bearer(key), ...(payload === undefined ? {} : { payload }) });
  const alertRows = () => store.handle.db.selectFrom('alerts').selectAll().orderBy('id').execute();

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    for (const name of ['alice', 'bob'] as const) {
      const user = await store.system.insertUserIfAbsent({
        name,
        email: `${name}@example.com`,
        role: 'member',
      });
      users[name] = { id: user!.id, key: await makeKey(user!.id, ['*']) };
    }
    readOnlyKey = await makeKey(users.alice.id, ['alerts:read']);
    app = await buildApp({ store, rateLimits: false });
    const alice = users.alice.id;
    ids.failure = await seed({
      ownerId: alice,
      type: 'agent_failure',
      severity: 'critical',
      cause: 'agent_failure:a@1',
    });
    ids.timeout = await seed({
      ownerId: alice,
      type: 'task_timeout',
      severity: 'warning',
      cause: 'task_timeout:a@1',
    });
    ids.slow = await seed({
      ownerId: alice,
      type: 'performance_degradation',
      severity: 'warning',
      cause: 'performance_degradation:a@1',
    });
    ids.bobs = await seed({ ownerId: users.bob.id, type: 'system_error', severity: 'critical', cause: 'x' });
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  it("lists the caller's alerts only, newest first, filtered and paged, with the open counts", async () => {
    const all = await call('GET', '/api/v1/alerts', users.alice.key);
    expect(all.statusCode).toBe(200);
    expect(all.json().items.map((a: { id: string }) => a.id)).toEqual([ids.slow, ids.timeout, ids.failure]);
    expect(all.json().open).toEqual({ info: 0, warning: 2, critical: 1, total: 3 });
    expect(all.json().items[0]).not.toHaveProperty('ownerId');

    const warnings = await call('GET', '/api/v1/alerts?severity=warning', users.alice.key);
    expect(warnings.json().items.map((a: { id: string }) => a.id)).toEqual([ids.slow, ids.timeout]);
    const timeouts = await call('GET', '/api/v1/alerts?type=task_timeout', users.alice.key);
    expect(timeouts.json().items.map((a: { id: string }) => a.id)).toEqual([ids.timeout]);

    const first = await call('GET', '/api/v1/alerts?limit=2', users.alice.key);
    expect(first.json().items).toHaveLength(2);
    const second = await call('GET', `/api/v1/alerts?limit=2&cursor=${first.json().next}`, users.alice.key);
    expect(second.json().items.map((a: { id: string }) => a.id)).toEqual([ids.failure]);
    expect(second.json().next).toBeNull();

    const bobs = await call('GET', '/api/v1/alerts', users.bob.key);
    expect(bobs.json().items.map((a: { id: string }) => a.id)).toEqual([ids.bobs]);
  });

  it("answers another owner's alert as not found, for reading and resolving, and changes nothing", async () => {
    const before = await alertRows();
    for (const res of [
      await call('GET', `/api/v1/alerts/${ids.bobs}`, users.alice.key),
      await call('PATCH', `/api/v1/alerts/${ids.bobs}`, users.alice.key, { resolved: true }),
      await call('GET', '/api/v1/alerts/no-such-alert', users.alice.key),
    ]) {
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    expect(await alertRows()).toEqual(before);
  });

  it('refuses bad input with 400 naming the field, and a read-only key with 403', async () => {
    const before = await alertRows();
    const cases: [string, string, object | undefined, string][] = [
      ['GET', '/api/v1/alerts?type=bogus', undefined, 'type'],
      ['GET', '/api/v1/alerts?resolved=maybe', undefined, 'resolved'],
      ['GET', '/api/v1/alerts?limit=0', undefined, 'limit'],
      ['PATCH', `/api/v1/alerts/${ids.failure}`, { resolved: false }, 'resolved'],
      ['PATCH', `/api/v1/alerts/${ids.failure}`, { resolved: true, extra: 1 }, 'extra'],
      ['PATCH', `/api/v1/alerts/${ids.failure}`, {}, 'resolved'],
    ];
    for (const [method, url, payload, field] of cases) {
      const res = await call(method as 'GET' | 'PATCH', url, users.alice.key, payload);
      expect(res.statusCode, `${method} ${url}`).toBe(400);
      expect(JSON.stringify(res.json().errors), `${method} ${url}`).toContain(field);
    }
    const denied = await call('PATCH', `/api/v1/alerts/${ids.failure}`, readOnlyKey, { resolved: true });
    expect(denied.statusCode).toBe(403);
    expect(await alertRows()).toEqual(before);
  });

  it('resolves by hand, recording who, once, with an alert.resolved event', async () => {
    const res = await call('PATCH', `/api/v1/alerts/${ids.timeout}`, users.alice.key, { resolved: true });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: ids.timeout, resolved: true, resolvedBy: users.alice.id });
    const again = await call('PATCH', `/api/v1/alerts/${ids.timeout}`, users.alice.key, { resolved: true });
    expect(again.statusCode).toBe(200);
    expect(again.json().resolvedAt).toBe(res.json().resolvedAt);
    const events = await store.handle.db
      .selectFrom('events')
      .select('payload')
      .where('type', '=', 'alert.resolved')
      .execute();
    expect(events.filter((e) => e.payload.includes(ids.timeout!))).toHaveLength(1);
    const open = await call('GET', '/api/v1/alerts?resolved=false', users.alice.key);
    expect(open.json().items.map((a: { id: string }) => a.id)).toEqual([ids.slow, ids.failure]);
    expect(open.json().open.total).toBe(2);
    const one = await call('GET', `/api/v1/alerts/${ids.timeout}`, readOnlyKey);
    expect(one.json()).toMatchObject({ resolved: true, type: 'task_timeout', count: 1 });
  });
});
