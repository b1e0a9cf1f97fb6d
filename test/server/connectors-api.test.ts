import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { openKeyring, SecretsService } from '../../src/secrets/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { bearer } from '../helpers/people.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';

const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;

describe.each(DIALECTS)('/api/v1/connectors on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let smtp: TestSmtp;
  const keys: Record<'alice' | 'bob' | 'reader', string> = {} as never;

  async function makeKey(userId: string, scopes: string[]): Promise<string> {
    const generated = generateApiKey();
    await store
      .as({ userId, role: 'member' })
      .apiKeys.create({ name: 'k', prefix: generated.prefix, hash: generated.hash, scopes });
    return generated.key;
  }
  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, key: string, payload?: object) =>
    app.inject({ method, url, headers: bearer(key), ...(payload === undefined ? {} : { payload }) });
  const count = async () =>
    Number(
      (
        await store.handle.db
          .selectFrom('connectors')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const smtpConfig = () => ({
    host: '127.0.0.1',
    port: smtp.port,
    tls: 'none',
    username: 'mailer',
    password_secret: 'SMTP_PASSWORD',
    from: 'swarm@example.com',
  });

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    smtp = await startSmtp({ users: { mailer: PASSWORD } });
    const keyring = openKeyring(
      loadConfig({ SWARM_HOME: testDb.dir, SWARM_MASTER_KEY: randomBytes(32).toString('base64') }),
    );
    const ids: Record<string, string> = {};
    for (const name of ['alice', 'bob'] as const) {
      const user = await store.system.insertUserIfAbsent({
        name,
        email: `${name}@example.com`,
        role: 'member',
      });
      ids[name] = user!.id;
      keys[name] = await makeKey(user!.id, ['*']);
    }
    keys.reader = await makeKey(ids.alice!, ['connectors:read']);
    await new SecretsService(store, keyring).set(
      { userId: ids.alice!, role: 'member' },
      { name: 'SMTP_PASSWORD', value: PASSWORD },
    );
    app = await buildApp({
      store,
      rateLimits: false,
      keyring,
      providerUrls: { allowPrivateNetworks: true, allowedUrls: [] },
    });
  });
  afterAll(async () => {
    await app?.close();
    await smtp?.close();
    await store?.close();
    await testDb?.drop();
  });

  it('adds, lists, shows (by name or id), renames and removes connectors, showing secret names only', async () => {
    const created = await call('POST', '/api/v1/connectors', keys.alice, {
      name: 'mail',
      type: 'smtp',
      config: smtpConfig(),
    });
    expect(created.statusCode, created.body).toBe(201);
    const mail = created.json<{ id: string; secret: string; config: Record<string, unknown> }>();
    expect(mail).toMatchObject({ name: 'mail', type: 'smtp', active: true, secret: 'SMTP_PASSWORD' });
    expect(created.body.includes(PASSWORD)).toBe(false);

    const api = await call('POST', '/api/v1/connectors', keys.alice, {
      name: 'api',
      type: 'http',
      config: { base_url: 'https://api.example.com/v1/', headers: { Accept: 'application/json' } },
    });
    expect(api.statusCode, api.body).toBe(201);
    // Kept without the trailing slash: a request's relative URL is joined to it.
    expect(api.json<{ config: { base_url: string } }>().config.base_url).toBe('https://api.example.com/v1');

    const list = await call('GET', '/api/v1/connectors', keys.reader);
    expect(list.json<{ items: { name: string }[] }>().items.map((c) => c.name)).toEqual(['api', 'mail']);
    expect((await call('GET', `/api/v1/connectors/${mail.id}`, keys.reader)).json()).toMatchObject({
      name: 'mail',
    });
    expect(list.body.includes(PASSWORD)).toBe(false);

    const renamed = await call('PATCH', '/api/v1/connectors/api', keys.alice, { name: 'crm' });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(renamed.json()).toMatchObject({ name: 'crm', config: { base_url: 'https://api.example.com/v1' } });
    expect((await call('DELETE', '/api/v1/connectors/crm', keys.alice)).statusCode).toBe(204);
    expect((await call('GET', '/api/v1/connectors/crm', keys.alice)).statusCode).toBe(404);

    const audit = await store.handle.db
      .selectFrom('audit_logs')
      .select(['action', 'extra_metadata'])
      .where('resource_type', '=', 'connector')
      .execute();
    expect(audit.map((a) => a.action).sort()).toEqual([
      'connector.create',
      'connector.create',
      'connector.remove',
      'connector.update',
    ]);
    expect(JSON.stringify(audit).includes(PASSWORD)).toBe(false);
  });

  it('tests an smtp connector against a real server (ok), and answers ok: false for a dead one or a refused login', async () => {
    const ok = await call('POST', '/api/v1/connectors/mail/test', keys.alice);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({ ok: true });

    await call('POST', '/api/v1/connectors', keys.alice, {
      name: 'dead',
      type: 'smtp',
      // Nothing listens on port 1.
      config: { host: '127.0.0.1', port: 1, tls: 'none', from: 'swarm@example.com' },
    });
    const dead = await call('POST', '/api/v1/connectors/dead/test', keys.alice);
    expect(dead.statusCode).toBe(200);
    expect(dead.json<{ ok: boolean; message: string }>()).toMatchObject({
      ok: false,
      message: /ECONNREFUSED/,
    });

    await call('POST', '/api/v1/connectors', keys.alice, {
      name: 'wrong-user',
      type: 'smtp',
      config: { ...smtpConfig(), username: 'someone' },
    });
    const refused = await call('POST', '/api/v1/connectors/wrong-user/test', keys.alice);
    expect(refused.json<{ ok: boolean; message: string }>()).toMatchObject({
      ok: false,
      message: /login refused/,
    });
    expect(refused.body.includes(PASSWORD)).toBe(false);
  });

  it.each([
    ['an unknown type', { name: 'x', type: 'ftp', config: {} }, 'type'],
    ['a bad name', { name: 'Bad Name', type: 'http', config: { base_url: 'https://a.example' } }, 'name'],
    ['no base_url', { name: 'x', type: 'http', config: {} }, 'config.base_url'],
    [
      'an ftp base_url',
      { name: 'x', type: 'http', config: { base_url: 'ftp://a.example' } },
      'config.base_url',
    ],
    [
      'credentials in base_url',
      { name: 'x', type: 'http', config: { base_url: 'https://u:p@a.example' } },
      'config.base_url',
    ],
    [
      'an unknown auth type',
      { name: 'x', type: 'http', config: { base_url: 'https://a.example', auth: { type: 'oauth' } } },
      'config.auth.type',
    ],
    [
      'bearer without a secret',
      { name: 'x', type: 'http', config: { base_url: 'https://a.example', auth: { type: 'bearer' } } },
      'config.auth.secret',
    ],
    [
      'an unknown secret',
      {
        name: 'x',
        type: 'http',
        config: { base_url: 'https://a.example', auth: { type: 'bearer', secret: 'NOPE' } },
      },
      'config.auth.secret',
    ],
    [
      'a port out of range',
      { name: 'x', type: 'smtp', config: { host: 'h', port: 70000, tls: 'none', from: 'a@b.c' } },
      'config.port',
    ],
    [
      'a bad tls mode',
      { name: 'x', type: 'smtp', config: { host: 'h', port: 25, tls: 'ssl', from: 'a@b.c' } },
      'config.tls',
    ],
    [
      'a password without a username',
      {
        name: 'x',
        type: 'smtp',
        config: { host: 'h', port: 25, tls: 'none', from: 'a@b.c', password_secret: 'SMTP_PASSWORD' },
      },
      'config.username',
    ],
    [
      'an unknown smtp secret',
      {
        name: 'x',
        type: 'smtp',
        config: { host: 'h', port: 25, tls: 'none', from: 'a@b.c', username: 'u', password_secret: 'NOPE' },
      },
      'config.password_secret',
    ],
    [
      'an unknown config key',
      { name: 'x', type: 'smtp', config: { host: 'h', port: 25, tls: 'none', from: 'a@b.c', pasword: 'x' } },
      'config.pasword',
    ],
  ])('refuses %s with 400 naming the field, writing nothing', async (_what, body, field) => {
    const before = await count();
    const response = await call('POST', '/api/v1/connectors', keys.alice, body);
    expect(response.statusCode, response.body).toBe(400);
    expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
    const problem = response.json<{ issues?: { field: string }[]; detail: string }>();
    expect(JSON.stringify(problem)).toContain(field);
    expect(await count()).toBe(before);
  });

  it('answers 409 for a taken name, 404 for an unknown or another owner’s connector, 403 to a read-only key', async () => {
    const taken = await call('POST', '/api/v1/connectors', keys.alice, {
      name: 'mail',
      type: 'smtp',
      config: smtpConfig(),
    });
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ code: 'CONFLICT' });
    const renameOnto = await call('PATCH', '/api/v1/connectors/dead', keys.alice, { name: 'mail' });
    expect(renameOnto.statusCode).toBe(409);
    const badPatch = await call('PATCH', '/api/v1/connectors/dead', keys.alice, { config: { host: 'h' } });
    expect(badPatch.statusCode).toBe(400);

    expect((await call('GET', '/api/v1/connectors/nope', keys.alice)).statusCode).toBe(404);
    // Bob sees none of Alice's connectors, by name or by id.
    const mailId = (await call('GET', '/api/v1/connectors/mail', keys.alice)).json<{ id: string }>().id;
    expect((await call('GET', '/api/v1/connectors/mail', keys.bob)).statusCode).toBe(404);
    expect((await call('GET', `/api/v1/connectors/${mailId}`, keys.bob)).statusCode).toBe(404);
    expect((await call('POST', '/api/v1/connectors/mail/test', keys.bob)).statusCode).toBe(404);
    expect((await call('DELETE', '/api/v1/connectors/mail', keys.bob)).statusCode).toBe(404);
    expect((await call('GET', '/api/v1/connectors', keys.bob)).json()).toEqual({ items: [] });

    const denied = await call('POST', '/api/v1/connectors', keys.reader, {
      name: 'y',
      type: 'smtp',
      config: smtpConfig(),
    });
    expect(denied.statusCode).toBe(403);
    expect((await call('DELETE', '/api/v1/connectors/mail', keys.reader)).statusCode).toBe(403);
  });
});
