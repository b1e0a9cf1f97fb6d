import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimTasks, enqueueTasks, flowKey, MAX_LISTED_KEYS, type FlowLimit } from '../../src/queue/index.js';
import { buildApp } from '../../src/server/index.js';
import { newId, Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { bearer, keyFor } from '../helpers/people.js';

describe.each(DIALECTS)('flow-control API on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  const people: Record<'admin' | 'alice' | 'bob' | 'carol', { id: string; key: string }> = {} as never;

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    for (const [name, role] of [
      ['admin', 'admin'],
      ['alice', 'member'],
      ['bob', 'member'],
      ['carol', 'member'],
    ] as const) {
      const user = await store.system.insertUserIfAbsent({ name, email: `${name}@example.com`, role });
      people[name] = { id: user!.id, key: await keyFor(store, { id: user!.id, role }) };
    }
    app = await buildApp({ store, rateLimits: false });
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
    await testDb?.drop();
  });

  const get = (url: string, key: string) => app.inject({ method: 'GET', url, headers: bearer(key) });

  it('lists the caller’s keys with limit, running and waiting; an admin sees every owner’s', async () => {
    const limit: FlowLimit = {
      key: flowKey('concurrency', 'workflow', { ownerId: people.alice.id, workflow: 'wf' }, 'eu'),
      scope: 'workflow',
      maxRunning: 1,
    };
    await enqueueTasks(
      store.handle.db,
      store.handle.dialect,
      [0, 1, 2].map(() => ({ ownerId: people.alice.id, taskType: 't', input: {}, flow: [limit] })),
    );
    expect(await claimTasks(store.handle, { workerId: 'w', limit: 5, leaseMs: 60_000 })).toHaveLength(1);
    const alice = await get('/api/v1/queue/keys', people.alice.key);
    expect(alice.statusCode, alice.body).toBe(200);
    expect(alice.json()).toEqual({
      truncated: false,
      keys: [
        expect.objectContaining({
          key: limit.key,
          kind: 'concurrency',
          scope: 'workflow',
          ownerId: people.alice.id,
          namespace: ['wf'],
          value: 'eu',
          limit: 1,
          running: 1,
          waiting: 2,
        }),
      ],
    });
    expect((await get('/api/v1/queue/keys', people.bob.key)).json().keys).toEqual([]);
    expect((await get('/api/v1/queue/keys', people.admin.key)).json().keys).toHaveLength(1);
    expect((await app.inject({ method: 'GET', url: '/api/v1/queue/keys' })).statusCode).toBe(401);
  });

  it('lists the keys in use first however many idle keys are newer, with each rate window', async () => {
    const ownerId = people.carol.id;
    const ns = { ownerId, workflow: 'wf' };
    const busy: FlowLimit = {
      key: flowKey('concurrency', 'workflow', ns, 'busy'),
      scope: 'workflow',
      maxRunning: 1,
    };
    const rated: FlowLimit = {
      key: flowKey('rate', 'workflow', ns, 'rated'),
      scope: 'workflow',
      rate: { limit: 5, periodMs: 60_000 },
    };
    const enqueue = (flow: FlowLimit[], n: number) =>
      enqueueTasks(
        store.handle.db,
        store.handle.dialect,
        Array.from({ length: n }, () => ({ ownerId, taskType: 't', input: {}, flow })),
      );
    await enqueue([busy], 2);
    await enqueue([rated], 2);
    const claimed = await claimTasks(store.handle, { workerId: 'w', limit: 10, leaseMs: 60_000, ownerId });
    expect(claimed).toHaveLength(3);
    const db = store.handle.db;
    // A start from before the window does not count.
    await db
      .insertInto('flow_starts')
      .values({ id: newId(), key: rated.key, started_at: '2020-01-01T00:00:00.000Z' })
      .execute();
    // Both keys were set long ago; as many idle keys were set since as are listed.
    await db
      .updateTable('flow_keys')
      .set({ updated_at: '2020-01-01T00:00:00.000Z' })
      .where('owner_id', '=', ownerId)
      .execute();
    const idle = Array.from({ length: MAX_LISTED_KEYS }, (_, i) => ({
      ownerId,
      taskType: 't',
      input: {},
      flow: [
        {
          key: flowKey('concurrency', 'workflow', ns, `idle-${i}`),
          scope: 'workflow',
          maxRunning: 3,
        } as FlowLimit,
      ],
    }));
    const idleIds = await enqueueTasks(db, store.handle.dialect, idle);
    await db
      .updateTable('tasks')
      .set({ status: 'CANCELLED', parked_key: null })
      .where('id', 'in', idleIds)
      .execute();

    const res = await get('/api/v1/queue/keys', people.carol.key);
    expect(res.statusCode, res.body).toBe(200);
    const { keys, truncated } = res.json() as { keys: Record<string, unknown>[]; truncated: boolean };
    expect(truncated).toBe(true);
    expect(keys).toHaveLength(MAX_LISTED_KEYS);
    expect(keys.slice(0, 2)).toEqual([
      expect.objectContaining({ key: busy.key, value: 'busy', limit: 1, running: 1, waiting: 1 }),
      expect.objectContaining({
        key: rated.key,
        kind: 'rate',
        rateLimit: 5,
        periodMs: 60_000,
        recentStarts: 2,
      }),
    ]);
    expect(keys.every((key) => key.ownerId === ownerId)).toBe(true);
    // An admin's listing finds them too, among every owner's keys.
    const all = (await get('/api/v1/queue/keys', people.admin.key)).json().keys as { key: string }[];
    expect(all.map((key) => key.key)).toEqual(expect.arrayContaining([busy.key, rated.key]));
  });

  it('lets an admin set an owner quota, refuses bad values and non-admins', async () => {
    const put = (key: string, payload: Record<string, unknown>, who = people.bob.id) =>
      app.inject({ method: 'PUT', url: `/api/v1/users/${who}/quota`, headers: bearer(key), payload });
    const denied = await put(people.alice.key, { max_running_tasks: 1 });
    expect(denied.statusCode).toBe(403);
    const bad = await put(people.admin.key, { max_running_tasks: 0 });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toMatch(/problem\+json/);
    expect(bad.body).toMatch(/max_running_tasks/);
    const row = () =>
      store.handle.db
        .selectFrom('users')
        .select('max_running_tasks')
        .where('id', '=', people.bob.id)
        .executeTakeFirstOrThrow();
    expect((await row()).max_running_tasks).toBeNull();
    const set = await put(people.admin.key, { max_running_tasks: 2 });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toEqual({ userId: people.bob.id, max_running_tasks: 2 });
    expect((await row()).max_running_tasks).toBe(2);
    // Bob's next tasks are under the quota: two run, the rest wait.
    await enqueueTasks(
      store.handle.db,
      store.handle.dialect,
      [0, 1, 2, 3].map(() => ({ ownerId: people.bob.id, taskType: 't', input: {} })),
    );
    const claimed = await claimTasks(store.handle, {
      workerId: 'w',
      limit: 10,
      leaseMs: 60_000,
      ownerId: people.bob.id,
    });
    expect(claimed).toHaveLength(2);
    const keys = (await get('/api/v1/queue/keys', people.bob.key)).json().keys;
    expect(keys).toEqual([expect.objectContaining({ scope: 'owner', limit: 2, running: 2, waiting: 2 })]);
    // /metrics: per-scope aggregates, so the label cardinality is fixed.
    const metrics = await get('/metrics', people.admin.key);
    expect(metrics.statusCode, metrics.body).toBe(200);
    expect(metrics.body).toContain('swarm_flow_key_running{scope="owner"} 2');
    expect(metrics.body).toContain('swarm_flow_key_waiting{scope="owner"} 2');
    expect((await put(people.admin.key, { max_running_tasks: null })).json().max_running_tasks).toBeNull();
    expect((await put(people.admin.key, { max_running_tasks: 1 }, 'ghost@example.com')).statusCode).toBe(404);
  });

  it('lets an admin set an owner’s weight in fair claims, refuses bad values and non-admins', async () => {
    const put = (key: string, payload: Record<string, unknown>, who = people.bob.id) =>
      app.inject({ method: 'PUT', url: `/api/v1/users/${who}/weight`, headers: bearer(key), payload });
    expect((await put(people.alice.key, { claim_weight: 2 })).statusCode).toBe(403);
    for (const bad of [0, 1001, 1.5, 'heavy', undefined]) {
      const res = await put(people.admin.key, bad === undefined ? {} : { claim_weight: bad });
      expect(res.statusCode, String(bad)).toBe(400);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
      expect(res.body).toMatch(/claim_weight/);
    }
    const weight = async () =>
      (
        await store.handle.db
          .selectFrom('users')
          .select('claim_weight')
          .where('id', '=', people.bob.id)
          .executeTakeFirstOrThrow()
      ).claim_weight;
    expect(await weight()).toBeNull();
    const set = await put(people.admin.key, { claim_weight: 5 });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toEqual({ userId: people.bob.id, claim_weight: 5 });
    expect(await weight()).toBe(5);
    const audit = await store.handle.db
      .selectFrom('audit_logs')
      .select(['resource_id', 'extra_metadata'])
      .where('action', '=', 'user.weight')
      .execute();
    expect(audit).toEqual([{ resource_id: people.bob.id, extra_metadata: expect.stringContaining('5') }]);
    expect((await put(people.admin.key, { claim_weight: null })).json().claim_weight).toBeNull();
    expect((await put(people.admin.key, { claim_weight: 2 }, 'ghost@example.com')).statusCode).toBe(404);
  });
});
