import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { openKeyring, SecretsService } from '../../src/secrets/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';

const VALUE = 'pa55-w0rd/with+odd chars&more';
const encodedForms = [VALUE, Buffer.from(VALUE).toString('base64'), encodeURIComponent(VALUE)];

describe.each(DIALECTS)('secrets API on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let key: string;
  let logs: string;
  const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    key = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!.key;
    logs = '';
    const logger = pino({ level: 'trace' }, { write: (line: string) => void (logs += line) });
    app = await buildApp({ store, keyring, logger });
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  const bodies: string[] = [];
  const call = async (method: 'GET' | 'PUT' | 'DELETE', url: string, payload?: unknown, asKey = key) => {
    const res = await app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${asKey}` },
      ...(payload === undefined
        ? {}
        : typeof payload === 'string'
          ? { payload, headers: { authorization: `Bearer ${asKey}`, 'content-type': 'application/json' } }
          : { payload: payload as object }),
    });
    bodies.push(res.body);
    return res;
  };

  it('sets, replaces, lists and removes without ever answering with the value', async () => {
    bodies.length = 0;
    const created = await call('PUT', '/api/v1/secrets/DB_PASSWORD', { value: VALUE });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toEqual({
      created: true,
      secret: {
        id: expect.any(String),
        name: 'DB_PASSWORD',
        scope: 'global',
        workflow: null,
        keyVersion: 1,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      },
    });
    const replaced = await call('PUT', '/api/v1/secrets/DB_PASSWORD', { value: `${VALUE}!` });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json()).toMatchObject({ created: false, secret: { id: created.json().secret.id } });
    await call('PUT', '/api/v1/secrets/_OTHER_1', { value: 'another-value' });

    const list = await call('GET', '/api/v1/secrets');
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((s: { name: string }) => s.name)).toEqual(['DB_PASSWORD', '_OTHER_1']);

    const removed = await call('DELETE', '/api/v1/secrets/DB_PASSWORD');
    expect(removed.statusCode).toBe(204);
    expect(removed.body).toBe('');
    const again = await call('DELETE', '/api/v1/secrets/DB_PASSWORD');
    expect(again.statusCode).toBe(404);
    expect(again.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(again.json()).toMatchObject({ code: 'NOT_FOUND', detail: 'secret not found: DB_PASSWORD' });
    expect((await call('GET', '/api/v1/secrets')).json().items).toHaveLength(1);

    expect(bodies).toHaveLength(7);
    for (const body of bodies)
      for (const form of [...encodedForms, 'another-value']) expect(body).not.toContain(form);
    // Nor in the audit log or the request log.
    const admin = (await store.system.findFirstAdmin())!;
    const audit = (await store.as({ userId: admin.id, role: 'admin' }).audit.list()).items;
    expect(audit.map((a) => a.action)).toEqual(expect.arrayContaining(['secret.set', 'secret.remove']));
    expect(
      audit.find(
        (a) => a.action === 'secret.set' && a.metadata.created === true && a.metadata.name === 'DB_PASSWORD',
      ),
    ).toMatchObject({
      resourceType: 'secret',
      metadata: { name: 'DB_PASSWORD', scope: 'global', workflow: null },
    });
    const auditRows = await store.handle.db.selectFrom('audit_logs').selectAll().execute();
    expect(logs).toContain('/api/v1/secrets/DB_PASSWORD');
    for (const form of encodedForms) {
      expect(JSON.stringify(auditRows)).not.toContain(form);
      expect(logs).not.toContain(form);
    }
  });

  it('gives the stored value back to the worker (resolve), encrypted at rest', async () => {
    await call('PUT', '/api/v1/secrets/DB_PASSWORD', { value: VALUE });
    const admin = (await store.system.findFirstAdmin())!;
    expect(await new SecretsService(store, keyring).resolve(admin.id, ['DB_PASSWORD'])).toEqual({
      DB_PASSWORD: VALUE,
    });
    const row = await store.handle.db.selectFrom('secrets').selectAll().executeTakeFirstOrThrow();
    expect(Buffer.from(row.encrypted_value).toString('latin1')).not.toContain(VALUE);
  });

  it('refuses bad input with 400 naming the field, never quoting the value, and writes nothing', async () => {
    const cases: Array<[string, unknown, string]> = [
      ['/api/v1/secrets/bad-name', { value: VALUE }, 'params.name'],
      ['/api/v1/secrets/9LIVES', { value: VALUE }, 'params.name'],
      ['/api/v1/secrets/OK', {}, 'body.value'],
      ['/api/v1/secrets/OK', { value: '' }, 'body.value'],
      ['/api/v1/secrets/OK', { value: 12345678 }, 'body.value'],
      ['/api/v1/secrets/OK', { value: VALUE, extra: VALUE }, 'body.extra'],
      ['/api/v1/secrets/OK', { value: 'ü'.repeat(40_000) }, 'value'],
      ['/api/v1/secrets/OK', { value: VALUE, workflow: 'nope' }, 'workflow'],
    ];
    for (const [url, payload, field] of cases) {
      const res = await call('PUT', url, payload);
      expect(res.statusCode, `${url} ${res.body}`).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json().code).toBe('INPUT_INVALID');
      expect(res.json().errors.map((e: { field: string }) => e.field)).toContain(field);
      for (const form of encodedForms) expect(res.body).not.toContain(form);
    }
    // Malformed JSON: the parser's message would quote the body, that is the value.
    const broken = await call('PUT', '/api/v1/secrets/OK', `{"value": "${VALUE}" oops`);
    expect(broken.statusCode).toBe(400);
    expect(broken.json()).toMatchObject({
      code: 'INPUT_INVALID',
      detail: expect.stringMatching(/^body: not valid JSON/),
    });
    const yaml = await app.inject({
      method: 'PUT',
      url: '/api/v1/secrets/OK',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/yaml' },
      payload: `value: ${VALUE}\nvalue: ${VALUE}\n`,
    });
    expect(yaml.statusCode).toBe(400);
    for (const form of encodedForms) {
      expect(broken.body).not.toContain(form);
      expect(yaml.body).not.toContain(form);
      expect(logs).not.toContain(form);
    }
    expect((await call('GET', '/api/v1/secrets')).json().items).toEqual([]);
    expect((await call('DELETE', '/api/v1/secrets/NOPE')).statusCode).toBe(404);
    // The longest name there is.
    expect((await call('PUT', `/api/v1/secrets/${'A'.repeat(100)}`, { value: VALUE })).statusCode).toBe(201);
  });

  it("keeps each user's secrets invisible to the others", async () => {
    const { key: bobKey } = await memberWithKey(store, { name: 'Bob', email: 'bob@example.com' }, 'bob');
    await call('PUT', '/api/v1/secrets/SHARED_NAME', { value: VALUE });
    expect((await call('GET', '/api/v1/secrets', undefined, bobKey)).json().items).toEqual([]);
    expect((await call('DELETE', '/api/v1/secrets/SHARED_NAME', undefined, bobKey)).statusCode).toBe(404);
    const bobs = await call('PUT', '/api/v1/secrets/SHARED_NAME', { value: 'bobs-own-value' }, bobKey);
    expect(bobs.statusCode).toBe(201);
    expect((await call('GET', '/api/v1/secrets')).json().items).toHaveLength(1);
    expect((await call('GET', '/api/v1/secrets', undefined, bobKey)).json().items).toHaveLength(1);
    const admin = (await store.system.findFirstAdmin())!;
    expect(await new SecretsService(store, keyring).resolve(admin.id, ['SHARED_NAME'])).toEqual({
      SHARED_NAME: VALUE,
    });
    expect((await app.inject({ method: 'GET', url: '/api/v1/secrets' })).statusCode).toBe(401);
  });

  it('scopes a secret to a workflow by name and removes it with ?workflow=', async () => {
    const applied = await call('PUT', '/api/v1/secrets/TOKEN', { value: VALUE, workflow: 'nope' });
    expect(applied.statusCode).toBe(400);
    const wf = await app.inject({
      method: 'POST',
      url: '/api/v1/workflows',
      headers: { authorization: `Bearer ${key}` },
      payload: { name: 'daily', version: '1.0.0', steps: [{ id: 'a', agent: 'builtin/noop' }] },
    });
    expect(wf.statusCode, wf.body).toBe(201);
    const scoped = await call('PUT', '/api/v1/secrets/TOKEN', { value: VALUE, workflow: 'daily' });
    expect(scoped.statusCode).toBe(201);
    expect(scoped.json().secret).toMatchObject({ scope: 'workflow', workflow: 'daily' });
    expect((await call('DELETE', '/api/v1/secrets/TOKEN')).statusCode).toBe(404);
    expect((await call('DELETE', '/api/v1/secrets/TOKEN?workflow=daily')).statusCode).toBe(204);
  });

  it('describes the routes in the OpenAPI document under the secrets tag', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
    expect(doc.paths['/api/v1/secrets/{name}'].put.tags).toEqual(['secrets']);
    expect(doc.paths['/api/v1/secrets/{name}'].delete.tags).toEqual(['secrets']);
    expect(doc.paths['/api/v1/secrets'].get.tags).toEqual(['secrets']);
    expect(doc.components.schemas.Secret.properties).not.toHaveProperty('value');
  });
});
