import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { bootstrapAdmin, hashApiKey } from '../../src/auth/index.js';
import { buildApp } from '../../src/server/index.js';
import { MIGRATIONS, Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';

describe.each(DIALECTS)('HTTP API on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let adminKey: string;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    const boot = await bootstrapAdmin(store, testDb.dir, 'http://127.0.0.1:0');
    adminKey = boot!.key;
    app = await buildApp({ store });
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  const auth = (key: string) => ({ authorization: `Bearer ${key}` });
  const count = async (table: 'api_keys' | 'audit_logs') =>
    Number(
      (
        await store.handle.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('answers /healthz without a key', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      status: 'ok',
      database: dialect,
      schemaVersion: MIGRATIONS.at(-1)!.version,
    });
  });

  it('serves the OpenAPI document describing its routes', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/healthz',
        '/api/v1/me',
        '/api/v1/keys',
        '/api/v1/keys/{id}',
        '/api/v1/agents',
        '/api/v1/agents/{name}',
        '/api/v1/agents/{name}/versions',
        '/api/v1/agents/{name}/versions/{version}',
        '/api/v1/workflows',
        '/api/v1/workflows/validate',
        '/api/v1/workflows/{name}',
        '/api/v1/workflows/{name}/versions',
        '/api/v1/workflows/{name}/versions/{version}',
      ]),
    );
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.components.schemas.Problem).toBeDefined();
  });

  it.each([
    ['no header', undefined, /missing Authorization header/],
    ['not a bearer', 'Basic abc', /missing Authorization header/],
    ['unknown key', 'Bearer swarm_nope', /unknown API key/],
  ])('refuses /api/v1 with %s as 401 problem+json', async (_name, header, detail) => {
    const res = await app.inject({
      method: 'GET',
      url: '/api/v1/me',
      headers: header === undefined ? {} : { authorization: header },
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = res.json();
    expect(problem).toMatchObject({
      status: 401,
      code: 'UNAUTHENTICATED',
      title: 'Authentication required',
      instance: '/api/v1/me',
    });
    expect(problem.detail).toMatch(detail);
  });

  it('counts a rejected key (test/server/auth-failures.test.ts: per window, not a row each)', async () => {
    const before = await count('audit_logs');
    await app.inject({ method: 'GET', url: '/api/v1/me', headers: auth('swarm_wrong') });
    await app.authFailures.flush();
    expect(await count('audit_logs')).toBe(before);
    const rows = await store.handle.db.selectFrom('auth_failures').selectAll().execute();
    expect(rows).toMatchObject([
      { kind: 'api_key', key_prefix: 'swarm_wrong', reason: 'unknown API key', attempts: 1 },
    ]);
  });

  it('protects unknown /api/v1 paths too, and 404s unknown routes with a problem', async () => {
    expect((await app.inject({ method: 'GET', url: '/api/v1/nothing-here' })).statusCode).toBe(401);
    const res = await app.inject({ method: 'GET', url: '/api/v1/nothing-here', headers: auth(adminKey) });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'NOT_FOUND', detail: 'no route GET /api/v1/nothing-here' });
  });

  it('knows the admin by the bootstrap key, which is stored only as a hash', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/me', headers: auth(adminKey) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ email: 'admin@localhost', role: 'admin', status: 'active' });
    const rows = await store.handle.db.selectFrom('api_keys').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.key_hash).toBe(hashApiKey(adminKey));
    expect(JSON.stringify(rows)).not.toContain(adminKey);
  });

  it('writes the credentials file with mode 0600 and bootstraps only once', async () => {
    const file = `${testDb.dir}/credentials`;
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { credentials: { apiKey: string }[] };
    expect(saved.credentials.map((c) => c.apiKey)).toEqual([adminKey]);
    expect(await bootstrapAdmin(store, testDb.dir, 'http://x')).toBeNull();
    expect(await count('api_keys')).toBe(1);
  });

  it('creates, lists and revokes keys; a revoked key stops working', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/keys',
      headers: auth(adminKey),
      payload: { name: 'ci', scopes: ['runs:read', 'keys:read'] },
    });
    expect(created.statusCode).toBe(201);
    const { key, apiKey } = created.json();
    expect(key).toMatch(/^swarm_/);
    expect(apiKey).toMatchObject({
      name: 'ci',
      scopes: ['runs:read', 'keys:read'],
      active: true,
      prefix: key.slice(0, 12),
    });
    expect(apiKey).not.toHaveProperty('hash');

    const list = await app.inject({ method: 'GET', url: '/api/v1/keys', headers: auth(key) });
    expect(
      list
        .json()
        .items.map((k: { name: string }) => k.name)
        .sort(),
    ).toEqual(['admin', 'ci']);
    expect(list.body).not.toContain(key);

    const revoked = await app.inject({
      method: 'DELETE',
      url: `/api/v1/keys/${apiKey.id}`,
      headers: auth(adminKey),
    });
    expect(revoked.json()).toMatchObject({ active: false });
    const after = await app.inject({ method: 'GET', url: '/api/v1/me', headers: auth(key) });
    expect(after.statusCode).toBe(401);
    expect(after.json().detail).toBe('API key revoked');
  });

  it.each([
    [{}, 'body.name'],
    [{ name: 42 }, 'body.name'],
    [{ name: '' }, 'body.name'],
    [{ name: 'x', scopes: 'all' }, 'body.scopes'],
    [{ name: 'x', expiresAt: 'tomorrow' }, 'body.expiresAt'],
    [{ name: 'x', colour: 'red' }, 'body.colour'],
  ])('rejects a bad key request %j naming %s, writing nothing', async (payload, field) => {
    const before = await count('api_keys');
    const res = await app.inject({ method: 'POST', url: '/api/v1/keys', headers: auth(adminKey), payload });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = res.json();
    expect(problem.code).toBe('INPUT_INVALID');
    expect(problem.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(await count('api_keys')).toBe(before);
  });

  it('rejects malformed JSON with a 400 problem', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/keys',
      headers: { ...auth(adminKey), 'content-type': 'application/json' },
      payload: '{"name":',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('INPUT_INVALID');
  });

  it("scopes keys to their owner: another user's key is not found", async () => {
    const { key: otherSecret, apiKey: otherKey } = await memberWithKey(
      store,
      { name: 'Member', email: 'member@example.com' },
      'm',
    );
    const list = await app.inject({ method: 'GET', url: '/api/v1/keys', headers: auth(otherSecret) });
    expect(list.json().items.map((k: { id: string }) => k.id)).toEqual([otherKey.id]);
    const res = await app.inject({
      method: 'DELETE',
      url: `/api/v1/keys/${otherKey.id}`,
      headers: auth(adminKey),
    });
    expect(res.statusCode).toBe(404);
    expect(
      (await app.inject({ method: 'GET', url: '/api/v1/me', headers: auth(otherSecret) })).json().email,
    ).toBe('member@example.com');
  });
});
