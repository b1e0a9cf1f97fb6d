import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { Engine } from '../../src/engine/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

/** Workflow concurrency through the API: definitions, starts, the run's key and status. */
describe.each(DIALECTS)('run concurrency over the API on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let key: string;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    key = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!.key;
    const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));
    app = await buildApp({ store, engine: new Engine(store), keyring });
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  const call = (method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${key}` },
      ...(payload === undefined ? {} : { payload }),
    });
  const define = (concurrency: unknown, version = '1.0.0') =>
    call('POST', '/api/v1/workflows', {
      name: 'per-tenant',
      version,
      concurrency,
      steps: [{ id: 'a', agent: 'builtin/transform', input: { t: '{{ trigger.tenant }}' } }],
    });
  const count = async () =>
    Number(
      (
        await store.handle.db
          .selectFrom('workflows')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('refuses a bad concurrency with 400 problem+json naming the field, storing nothing', async () => {
    for (const [concurrency, field] of [
      [{ limit: 0 }, 'concurrency.limit'],
      [{ limit: 1, strategy: 'newest_wins' }, 'concurrency.strategy'],
      [{ limit: 1, key: 'input.(' }, 'concurrency.key'],
      [{ limit: 1, extra: true }, 'concurrency.extra'],
    ] as const) {
      const res = await define(concurrency);
      expect(res.statusCode, field).toBe(400);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.json().errors.map((e: { field: string }) => e.field)).toEqual([field]);
    }
    expect(await count()).toBe(0);
  });

  it('queue shows waiting runs as pending with their key; cancel_newest answers 202 with the run cancelled', async () => {
    expect((await define({ key: 'input.tenant', limit: 1 })).statusCode).toBe(201);
    const first = (
      await call('POST', '/api/v1/workflows/per-tenant/runs', { input: { tenant: 'acme' } })
    ).json();
    const second = await call('POST', '/api/v1/workflows/per-tenant/runs', { input: { tenant: 'acme' } });
    expect(second.statusCode).toBe(202);
    expect(first.run).toMatchObject({ status: 'running', concurrencyKey: 'acme' });
    expect(second.json().run).toMatchObject({ status: 'pending', concurrencyKey: 'acme', startedAt: null });
    const read = await call('GET', `/api/v1/runs/${second.json().id}`);
    expect(read.json()).toMatchObject({ status: 'pending', concurrencyKey: 'acme' });
    const listed = await call('GET', '/api/v1/runs?status=pending');
    expect(listed.json().items.map((r: { id: string }) => r.id)).toEqual([second.json().id]);
    // A bad key value is the starter's 400.
    const bad = await call('POST', '/api/v1/workflows/per-tenant/runs', { input: { tenant: [1] } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors).toEqual([
      {
        field: 'concurrency.key',
        message: expect.stringMatching(/must evaluate to a string, number or boolean/),
      },
    ]);

    expect((await define({ limit: 1, strategy: 'cancel_newest' }, '1.1.0')).statusCode).toBe(201);
    const third = await call('POST', '/api/v1/workflows/per-tenant/runs', { input: { tenant: 'x' } });
    expect(third.statusCode).toBe(202);
    expect(third.json().run).toMatchObject({ status: 'running', concurrencyKey: '' });
    const fourth = await call('POST', '/api/v1/workflows/per-tenant/runs', { input: { tenant: 'x' } });
    expect(fourth.statusCode).toBe(202);
    expect(fourth.json().run).toMatchObject({
      status: 'cancelled',
      cancelledBy: 'engine',
      cancellationReason: expect.stringMatching(/^concurrency limit reached \(cancel_newest\)/),
    });
  });
});
