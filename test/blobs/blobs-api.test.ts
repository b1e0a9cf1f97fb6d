import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { configureBlobs } from '../../src/blobs/index.js';
import { Engine } from '../../src/engine/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';

describe.each(DIALECTS)('large payloads over the API on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let key: string;
  let otherKey: string;

  beforeEach(async () => {
    configureBlobs({ inlineMax: 64 * 1024 });
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    key = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!.key;
    otherKey = (await memberWithKey(store, { name: 'Other', email: 'other@example.com' }, 'k')).key;
    app = await buildApp({ store, engine: new Engine(store), home: testDb.dir });
  });
  afterEach(async () => {
    configureBlobs({});
    await app.close();
    await store.close();
    await testDb.drop();
  });

  const call = (method: 'GET' | 'POST', url: string, payload?: unknown, asKey = key) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${asKey}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  it('lists a large event payload as a link, serves it whole to its owner and to no one else', async () => {
    const payload = { rows: Array.from({ length: 4000 }, (_, i) => ({ i, name: `row ${i}` })) };
    const published = await call('POST', '/api/v1/events', { source: 'test', type: 'big', payload });
    expect(published.statusCode).toBe(202);
    const listed = await call('GET', '/api/v1/events?type=big');
    expect(listed.statusCode).toBe(200);
    const shown = listed.json().items[0].payload as { $blob: string; size: number; url: string };
    expect(shown.$blob).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(shown.size).toBe(Buffer.byteLength(JSON.stringify(payload)));
    expect(shown.url).toBe(`/api/v1/blobs/${shown.$blob.slice(7)}`);

    const whole = await call('GET', shown.url);
    expect(whole.statusCode).toBe(200);
    expect(whole.headers['content-type']).toMatch(/^application\/json/);
    expect(whole.json()).toEqual(payload);

    // Another owner: the same bytes exist, but none of its rows reference them.
    const other = await call('GET', shown.url, undefined, otherKey);
    expect(other.statusCode).toBe(404);
    expect(other.headers['content-type']).toMatch(/^application\/problem\+json/);
    // Even after publishing the same payload itself, it reads it through its own reference only.
    expect(
      (await call('POST', '/api/v1/events', { source: 't', type: 'big', payload }, otherKey)).statusCode,
    ).toBe(202);
    expect((await call('GET', shown.url, undefined, otherKey)).statusCode).toBe(200);
    expect(await store.handle.db.selectFrom('blobs').selectAll().execute()).toHaveLength(1);

    const bad = await call('GET', '/api/v1/blobs/not-a-hash');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('INPUT_INVALID');
    expect((await call('GET', `/api/v1/blobs/${'0'.repeat(64)}`)).statusCode).toBe(404);
  });
});
