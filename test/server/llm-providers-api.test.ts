import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';

const API_KEY = `sk-live-${randomBytes(12).toString('hex')}`;

describe.each(DIALECTS)('LLM providers API on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let adminKey: string;

  beforeEach(async () => {
    vi.stubEnv('SWARM_ALLOW_PRIVATE_NETWORKS', 'false');
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    adminKey = (await bootstrapAdmin(store, testDb.dir, 'http://127.0.0.1:0'))!.key;
    const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));
    app = await buildApp({ store, keyring });
    const res = await put('/api/v1/secrets/OPENAI_KEY', { value: API_KEY });
    expect(res.statusCode).toBe(201);
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await app.close();
    await store.close();
    await testDb.drop();
  });

  const auth = (key = adminKey) => ({ authorization: `Bearer ${key}` });
  const put = (url: string, payload: unknown, key = adminKey) =>
    app.inject({ method: 'PUT', url, payload: payload as object, headers: auth(key) });
  const get = (url: string, key = adminKey) => app.inject({ method: 'GET', url, headers: auth(key) });

  it('sets, lists, shows, replaces and removes providers; the key is referenced by secret name only', async () => {
    const created = await put('/api/v1/llm-providers/openai', {
      provider: 'openai',
      model: 'gpt-4o-mini',
      api_key_secret: 'OPENAI_KEY',
      is_default: true,
      configuration: { input_cost_per_1k: 0.00015, output_cost_per_1k: 0.0006 },
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({
      created: true,
      provider: {
        name: 'openai',
        provider: 'openai',
        model: 'gpt-4o-mini',
        baseUrl: null,
        apiKeySecret: 'OPENAI_KEY',
        isDefault: true,
        active: true,
        configuration: { input_cost_per_1k: 0.00015 },
      },
    });
    const second = await put('/api/v1/llm-providers/claude', {
      provider: 'anthropic',
      base_url: 'https://api.anthropic.com/',
      api_key_secret: 'OPENAI_KEY',
      is_default: true,
    });
    expect(second.statusCode).toBe(201);
    expect(second.json().provider.baseUrl).toBe('https://api.anthropic.com');
    const list = await get('/api/v1/llm-providers');
    expect(list.json().items.map((p: { name: string; isDefault: boolean }) => [p.name, p.isDefault])).toEqual(
      [
        ['claude', true],
        ['openai', false],
      ],
    );
    const replaced = await put('/api/v1/llm-providers/openai', {
      provider: 'openai',
      model: 'gpt-4o',
      api_key_secret: 'OPENAI_KEY',
    });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json()).toMatchObject({ created: false, provider: { model: 'gpt-4o' } });
    expect((await get('/api/v1/llm-providers/openai')).json()).toMatchObject({
      name: 'openai',
      model: 'gpt-4o',
    });
    const everything = JSON.stringify([
      list.json(),
      await store.handle.db.selectFrom('llm_providers').selectAll().execute(),
      await store.handle.db.selectFrom('audit_logs').selectAll().execute(),
    ]);
    expect(everything).not.toContain(API_KEY);
    // Tenancy: another user sees none of them.
    const member = await memberWithKey(store, { name: 'M', email: 'm@example.com' }, 'm');
    expect((await get('/api/v1/llm-providers', member.key)).json()).toEqual({ items: [] });
    expect((await get('/api/v1/llm-providers/openai', member.key)).statusCode).toBe(404);

    const removed = await app.inject({
      method: 'DELETE',
      url: '/api/v1/llm-providers/openai',
      headers: auth(),
    });
    expect(removed.statusCode).toBe(204);
    expect((await get('/api/v1/llm-providers/openai')).statusCode).toBe(404);
    const again = await app.inject({
      method: 'DELETE',
      url: '/api/v1/llm-providers/openai',
      headers: auth(),
    });
    expect(again.statusCode).toBe(404);
  });

  it.each([
    ['a bad name', 'Bad Name', { provider: 'openai', api_key_secret: 'OPENAI_KEY' }, 'name'],
    ['an unknown provider', 'x', { provider: 'gemini' }, 'provider'],
    ['no provider', 'x', { model: 'm' }, 'provider'],
    ['openai without a key secret', 'x', { provider: 'openai' }, 'api_key_secret'],
    [
      'a key instead of a secret name',
      'x',
      { provider: 'openai', api_key_secret: 'sk-abc-123' },
      'api_key_secret',
    ],
    ['a secret that is not set', 'x', { provider: 'openai', api_key_secret: 'NOPE' }, 'api_key_secret'],
    ['custom without base_url', 'x', { provider: 'custom' }, 'base_url'],
    ['a base_url that is not a URL', 'x', { provider: 'custom', base_url: 'not a url' }, 'base_url'],
    ['a ftp base_url', 'x', { provider: 'custom', base_url: 'ftp://example.com' }, 'base_url'],
    ['credentials in base_url', 'x', { provider: 'custom', base_url: 'https://u:p@example.com' }, 'base_url'],
    ['a loopback base_url', 'x', { provider: 'custom', base_url: 'http://127.0.0.1:8080' }, 'base_url'],
    ['a metadata base_url', 'x', { provider: 'ollama', base_url: 'http://169.254.169.254' }, 'base_url'],
    ['localhost', 'x', { provider: 'ollama', base_url: 'http://localhost:11434' }, 'base_url'],
    [
      "ollama's loopback default base_url",
      'x',
      { provider: 'ollama' },
      'SWARM_LLM_ALLOWED_URLS=http://127.0.0.1:11434',
    ],
    [
      'a negative price',
      'x',
      {
        provider: 'ollama',
        base_url: 'https://ollama.example.com',
        configuration: { input_cost_per_1k: -1 },
      },
      'configuration.input_cost_per_1k',
    ],
    ['an unknown field', 'x', { provider: 'ollama', api_key: 'sk-123' }, 'api_key'],
    ['a non-boolean is_default', 'x', { provider: 'ollama', is_default: 'yes' }, 'is_default'],
  ])('refuses %s with 400 naming the field, and writes nothing', async (_what, name, body, field) => {
    const res = await put(`/api/v1/llm-providers/${encodeURIComponent(name)}`, body);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.body).toContain(field);
    expect(await store.handle.db.selectFrom('llm_providers').selectAll().execute()).toEqual([]);
  });

  it('accepts a private base URL when SWARM_ALLOW_PRIVATE_NETWORKS is set', async () => {
    vi.stubEnv('SWARM_ALLOW_PRIVATE_NETWORKS', 'true');
    const res = await put('/api/v1/llm-providers/local', {
      provider: 'ollama',
      base_url: 'http://127.0.0.1:11434',
    });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().provider).toMatchObject({
      provider: 'ollama',
      baseUrl: 'http://127.0.0.1:11434',
      apiKeySecret: null,
    });
  });

  it('accepts a private provider origin listed in SWARM_LLM_ALLOWED_URLS, and only that origin', async () => {
    vi.stubEnv('SWARM_LLM_ALLOWED_URLS', 'http://127.0.0.1:11434');
    const local = await put('/api/v1/llm-providers/local', { provider: 'ollama' });
    expect(local.statusCode, local.body).toBe(201);
    const other = await put('/api/v1/llm-providers/other', {
      provider: 'ollama',
      base_url: 'http://127.0.0.1:8080',
    });
    expect(other.statusCode).toBe(400);
    expect(other.json().detail).toMatch(/SWARM_LLM_ALLOWED_URLS=http:\/\/127\.0\.0\.1:8080/);
  });

  it('lists the routes in the OpenAPI document', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/llm-providers', '/api/v1/llm-providers/{name}']),
    );
  });
});
