/**
 * Keys with enforced scopes (issue 13, item 3): every route declares one scope, one hook checks
 * it (403 INSUFFICIENT_SCOPE), a key never mints a wider or longer-lived key, revoked and expired
 * keys get 401, `last_used_at` is written in batches, and `swarm keys` drives it all.
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapAdmin, generateApiKey, SCOPES } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import { buildApp } from '../../src/server/index.js';
import { registerRouteScopes } from '../../src/server/route-scope.js';
import { Store, type Role } from '../../src/storage/index.js';
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

const DAY = 86_400_000;

describe.each(DIALECTS)('keys with enforced scopes on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let adminKey: string;
  const ids: Record<Role, string> = { admin: '', member: '', viewer: '' };

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    const boot = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!;
    adminKey = boot.key;
    ids.admin = boot.user.id;
    for (const role of ['member', 'viewer'] as const)
      ids[role] = (await store.system.insertUserIfAbsent({
        name: role,
        email: `${role}@example.com`,
        role,
      }))!.id;
    const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));
    app = await buildApp({ store, keyring });
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  /** A key made straight in the store: any scopes, any expiry (the API refuses a past one). */
  async function keyFor(
    role: Role,
    scopes: string[],
    expiresAt?: string,
  ): Promise<{ key: string; id: string }> {
    const generated = generateApiKey();
    const apiKey = await store.as({ userId: ids[role], role }).apiKeys.create({
      name: `${role} ${scopes.join(',')}`,
      prefix: generated.prefix,
      hash: generated.hash,
      scopes,
      ...(expiresAt === undefined ? {} : { expiresAt }),
    });
    return { key: generated.key, id: apiKey.id };
  }

  const call = (key: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${key}` },
      ...(payload === undefined ? {} : { payload }),
    });
  const mint = (key: string, body: object) => call(key, 'POST', '/api/v1/keys', { name: 'minted', ...body });
  const workflow = { name: 'scoped', version: '1.0.0', steps: [{ id: 'a', agent: 'builtin/noop' }] };
  const fields = (res: { json(): unknown }) =>
    (res.json() as { errors?: { field: string }[] }).errors?.map((e) => e.field);
  const count = async (table: 'secrets' | 'workflows' | 'api_keys') =>
    Number(
      (
        await store.handle.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  describe('declaring', () => {
    it('builds only when every route declares a known scope (and so every route of the app does)', async () => {
      const bare = Fastify();
      registerRouteScopes(bare);
      expect(() => bare.get('/api/v1/undeclared', async () => 'x')).toThrow(
        /route GET \/api\/v1\/undeclared declares no scope/,
      );
      expect(() =>
        bare.get('/hooks/x', { config: { scope: 'runs:reed' as never } }, async () => 'x'),
      ).toThrow(/unknown scope "runs:reed"/);
      bare.get('/api/v1/declared', { config: { scope: 'runs:read' } }, async () => 'x');
      await bare.close();
      // The real app was built in beforeAll, so all its routes passed the same check; each shows it.
      await app.ready();
      const doc = app.swagger() as {
        paths: Record<
          string,
          Record<string, { 'x-swarm-scope'?: string; security?: unknown; description?: string }>
        >;
      };
      const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.entries(ops).map(([method, op]) => ({ name: `${method} ${path}`, op })),
      );
      expect(operations.length).toBeGreaterThan(70);
      for (const { name, op } of operations) {
        expect(op['x-swarm-scope'], name).toBeTypeOf('string');
        expect(op.description, name).toMatch(/Scope: /);
      }
      expect(doc.paths['/api/v1/secrets/{name}']!.put).toMatchObject({
        'x-swarm-scope': 'secrets:write',
        security: [{ bearer: ['secrets:write'] }],
      });
      expect(doc.paths['/api/v1/me']!.get).toMatchObject({
        'x-swarm-scope': 'authenticated',
        security: [{ bearer: [] }],
      });
      expect(doc.paths['/healthz']!.get).toMatchObject({ 'x-swarm-scope': 'public', security: [] });
      expect(doc.paths['/api/v1/agents']!.post!['x-swarm-scope']).toBe('agents:write');
    });

    it('documents every scope in docs/security.md', () => {
      const doc = fs.readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
      for (const scope of SCOPES) expect(doc, scope).toContain(`| \`${scope}\``);
    });
  });

  describe('enforcing', () => {
    it.each([
      ['write a secret', 'PUT', '/api/v1/secrets/STOLEN', { value: 'x' }, 'secrets:write', 'secrets'],
      ['mint a * key', 'POST', '/api/v1/keys', { name: 'wide', scopes: ['*'] }, 'keys:write', 'api_keys'],
      ['create a workflow', 'POST', '/api/v1/workflows', workflow, 'workflows:write', 'workflows'],
    ] as const)(
      'refuses a runs:read key trying to %s: 403 naming the scope, nothing written',
      async (_what, method, url, body, scope, table) => {
        const { key } = await keyFor('admin', ['runs:read']);
        const before = await count(table);
        const res = await call(key, method, url, body);
        expect(res.statusCode, res.body).toBe(403);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.json()).toMatchObject({ code: 'INSUFFICIENT_SCOPE', status: 403 });
        expect(res.json().detail).toContain(`"${scope}"`);
        expect(await count(table)).toBe(before);
      },
    );

    it('lets a key do what its scopes name, and nothing else', async () => {
      const { key } = await keyFor('admin', ['runs:read', 'workflows:write']);
      expect((await call(key, 'GET', '/api/v1/runs')).statusCode).toBe(200);
      const created = await call(key, 'POST', '/api/v1/workflows', workflow);
      expect(created.statusCode, created.body).toBe(201);
      expect((await call(key, 'GET', '/api/v1/workflows')).statusCode).toBe(403);
      // Who am I needs no particular scope.
      const { key: none } = await keyFor('member', []);
      expect((await call(none, 'GET', '/api/v1/me')).statusCode).toBe(200);
      expect((await call(none, 'GET', '/api/v1/runs')).statusCode).toBe(403);
    });

    it('holds a viewer to reading, whatever its key says', async () => {
      const { key } = await keyFor('viewer', ['*']);
      expect((await call(key, 'GET', '/api/v1/runs')).statusCode).toBe(200);
      for (const [method, url, body] of [
        ['POST', '/api/v1/keys', { name: 'v' }],
        ['POST', '/api/v1/workflows', workflow],
        ['PUT', '/api/v1/secrets/V', { value: 'x' }],
      ] as const) {
        const res = await call(key, method, url, body);
        expect(res.statusCode, `${method} ${url}`).toBe(403);
        expect(res.json().detail).toMatch(/viewer role/);
      }
    });

    it('answers 401 to revoked and expired keys', async () => {
      const revoked = await keyFor('member', ['*']);
      expect((await call(adminKey, 'DELETE', `/api/v1/keys/${revoked.id}`)).statusCode).toBe(404); // not the admin's
      expect((await call(revoked.key, 'DELETE', `/api/v1/keys/${revoked.id}`)).statusCode).toBe(200);
      const expired = await keyFor('member', ['*'], new Date(Date.now() - 1000).toISOString());
      for (const [key, detail] of [
        [revoked.key, 'API key revoked'],
        [expired.key, 'API key expired'],
      ] as const) {
        const res = await call(key, 'GET', '/api/v1/me');
        expect(res.statusCode).toBe(401);
        expect(res.json()).toMatchObject({ code: 'UNAUTHENTICATED', detail });
      }
    });
  });

  describe('minting', () => {
    it('gives a new key the scopes and expiry of the key making it by default', async () => {
      const expiresAt = new Date(Date.now() + DAY).toISOString();
      const { key } = await keyFor('member', ['keys:write', 'runs:read'], expiresAt);
      const res = await mint(key, {});
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json().apiKey).toMatchObject({ scopes: ['keys:write', 'runs:read'], expiresAt });
      const narrower = await mint(key, {
        scopes: ['runs:read'],
        expiresAt: new Date(Date.now() + 60_000).toISOString(),
      });
      expect(narrower.statusCode, narrower.body).toBe(201);
    });

    it.each([
      [
        'a scope it lacks',
        ['keys:write', 'runs:read'],
        { scopes: ['runs:read', 'tasks:write'] },
        'body.scopes[1]',
      ],
      ['*', ['keys:write', 'runs:read'], { scopes: ['*'] }, 'body.scopes[0]'],
      // A member's `*` never covers publishing code (an admin's does: it has the right by role).
      [
        "agents:publish from a member's * key",
        ['*'],
        { scopes: ['agents:publish'] },
        'body.scopes[0]',
        'member',
      ],
      [
        'a later expiry',
        ['*'],
        { expiresAt: new Date(Date.now() + 2 * DAY).toISOString() },
        'body.expiresAt',
      ],
    ] as Array<[string, string[], Record<string, unknown>, string, Role?]>)(
      'refuses a key minting %s: 403 naming the field, nothing written',
      async (_what, own, body, field, role = 'admin') => {
        const { key } = await keyFor(role, own, new Date(Date.now() + DAY).toISOString());
        const before = await count('api_keys');
        const res = await mint(key, body);
        expect(res.statusCode, res.body).toBe(403);
        expect(res.json().code).toBe('FORBIDDEN');
        expect(fields(res)).toEqual([field]);
        expect(await count('api_keys')).toBe(before);
      },
    );

    it("lets an admin's * key publish code and mint a key that does", async () => {
      const { key } = await keyFor('admin', ['*']);
      expect((await mint(key, { scopes: ['agents:publish'] })).statusCode).toBe(201);
    });

    it('refuses what the role never allows, even from a * key', async () => {
      const { key } = await keyFor('member', ['*', 'agents:publish']);
      for (const scope of ['agents:publish', 'users:admin']) {
        const res = await mint(key, { scopes: ['runs:read', scope] });
        expect(res.statusCode, scope).toBe(403);
        expect(fields(res)).toEqual(['body.scopes[1]']);
      }
      // A member's * key may make another *: it still acts only within the member role.
      expect((await mint(key, { scopes: ['*'] })).statusCode).toBe(201);
    });

    it('lets a key that names agents:publish pass it on, when its user may publish', async () => {
      const { key } = await keyFor('admin', ['keys:write', 'agents:publish']);
      const res = await mint(key, { scopes: ['agents:publish'] });
      expect(res.statusCode, res.body).toBe(201);
      // A member an admin granted agents:publish: its keys act with the grant too.
      const publisher = (await store.system.insertUserIfAbsent({
        name: 'publisher',
        email: 'publisher@example.com',
        role: 'member',
        grants: ['agents:publish'],
      }))!;
      const generated = generateApiKey();
      await store.as({ userId: publisher.id, role: 'member' }).apiKeys.create({
        name: 'publish',
        prefix: generated.prefix,
        hash: generated.hash,
        scopes: ['keys:write', 'agents:publish'],
      });
      const granted = await mint(generated.key, { scopes: ['agents:publish'] });
      expect(granted.statusCode, granted.body).toBe(201);
    });

    it('gives a new key at most the rate limits of the key making it, unless an admin makes it', async () => {
      const { key } = await keyFor('member', ['*']);
      const lower = await mint(key, { rateLimitPerMinute: 30 });
      expect(lower.statusCode, lower.body).toBe(201);
      expect(lower.json().apiKey).toMatchObject({ rateLimitPerMinute: 30, rateLimitPerHour: 1000 });
      // Its own keys inherit its 30, and cannot go back up to 60.
      const child = await mint(lower.json().key, {});
      expect(child.json().apiKey).toMatchObject({ rateLimitPerMinute: 30, rateLimitPerHour: 1000 });
      const before = await count('api_keys');
      const higher = await mint(lower.json().key, { rateLimitPerMinute: 60, rateLimitPerHour: 5000 });
      expect(higher.statusCode, higher.body).toBe(403);
      expect(fields(higher)).toEqual(['body.rateLimitPerMinute', 'body.rateLimitPerHour']);
      expect(await count('api_keys')).toBe(before);
      // An admin sets any limit, for itself or (X-Swarm-Owner) for a member.
      const raised = await mint(adminKey, { rateLimitPerMinute: 6000, rateLimitPerHour: 100_000 });
      expect(raised.json().apiKey).toMatchObject({ rateLimitPerMinute: 6000, rateLimitPerHour: 100_000 });
      const forMember = await app.inject({
        method: 'POST',
        url: '/api/v1/keys',
        headers: { authorization: `Bearer ${adminKey}`, 'x-swarm-owner': ids.member },
        payload: { name: 'member ci', rateLimitPerMinute: 600 },
      });
      expect(forMember.statusCode, forMember.body).toBe(201);
      const row = await store.handle.db
        .selectFrom('api_keys')
        .select(['owner_id', 'created_by', 'rate_limit_per_minute'])
        .where('id', '=', forMember.json().apiKey.id)
        .executeTakeFirstOrThrow();
      expect(row).toEqual({ owner_id: ids.member, created_by: ids.admin, rate_limit_per_minute: 600 });
      for (const bad of [0, -1, 1.5, '60']) {
        const res = await mint(adminKey, { rateLimitPerMinute: bad });
        expect(res.statusCode, String(bad)).toBe(400);
        expect(res.json().detail, String(bad)).toContain('rateLimitPerMinute');
      }
    });

    it('names every unknown scope (400), and a past expiry', async () => {
      const unknown = await mint(adminKey, { scopes: ['runs:reed', 'runs:read', 'everything'] });
      expect(unknown.statusCode).toBe(400);
      expect(unknown.json().code).toBe('INPUT_INVALID');
      expect(fields(unknown)).toEqual(['body.scopes[0]', 'body.scopes[2]']);
      const past = await mint(adminKey, { expiresAt: '2020-01-01T00:00:00Z' });
      expect(past.statusCode).toBe(400);
      expect(fields(past)).toEqual(['body.expiresAt']);
    });
  });

  it('writes last_used_at in batches, not on each request; close() writes what is left', async () => {
    const keys = [await keyFor('member', ['runs:read']), await keyFor('viewer', ['runs:read'])];
    const lastUsed = async () =>
      (
        await store.handle.db
          .selectFrom('api_keys')
          .select(['id', 'last_used_at'])
          .where(
            'id',
            'in',
            keys.map((k) => k.id),
          )
          .execute()
      ).map((row) => row.last_used_at);
    const own = await buildApp({ store });
    const before = Date.now();
    for (let i = 0; i < 3; i++)
      for (const { key } of keys)
        expect(
          (await own.inject({ url: '/api/v1/runs', headers: { authorization: `Bearer ${key}` } })).statusCode,
        ).toBe(200);
    expect(await lastUsed()).toEqual([null, null]);
    await own.close();
    for (const at of await lastUsed()) {
      expect(at).not.toBeNull();
      expect(Date.parse(at!)).toBeGreaterThanOrEqual(before - 1000);
      expect(Date.parse(at!)).toBeLessThanOrEqual(Date.now());
    }
  });

  it('swarm keys create|list|revoke: the key printed once, errors on one line', async () => {
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const env = { SWARM_URL: url, SWARM_API_KEY: adminKey, SWARM_HOME: testDb.dir };
    const created = await cli(
      [
        'keys',
        'create',
        '--name',
        'ci',
        '--scopes',
        'runs:read, tasks:read',
        '--expires',
        '2099-01-01',
        '--per-minute',
        '20',
        '--per-hour',
        '200',
      ],
      env,
    );
    expect(created.code, created.stderr).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^swarm_\S+$/);
    expect(created.stderr).toMatch(
      /scopes runs:read,tasks:read, expires 2099-01-01T00:00:00.000Z, 20\/min and 200\/h\. Save it now/,
    );

    const listed = await cli(['keys', 'list', '--json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    const ci = (JSON.parse(listed.stdout) as { id: string; name: string; scopes: string[] }[]).find(
      (k) => k.name === 'ci',
    )!;
    expect(ci.scopes).toEqual(['runs:read', 'tasks:read']);
    expect(listed.stdout).not.toContain(key);
    const table = await cli(['keys', 'list'], env);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+PREFIX\s+STATE\s+SCOPES/);
    expect(table.stdout).toMatch(
      new RegExp(`${ci.id}\\s+ci\\s+\\S+\\s+active\\s+runs:read,tasks:read\\s+20/min 200/h`),
    );

    const escalate = await cli(['keys', 'create', '--name', 'wide', '--scopes', '*'], {
      ...env,
      SWARM_API_KEY: key,
    });
    expect(escalate.code).toBe(1);
    expect(escalate.stderr.trim().split('\n')).toHaveLength(1);
    expect(escalate.stderr).toMatch(/"keys:write".*\[INSUFFICIENT_SCOPE\]/);
    const unknown = await cli(['keys', 'create', '--name', 'x', '--scopes', 'runs:reed'], env);
    expect(unknown.stderr).toMatch(/body\.scopes\[0\]: "runs:reed" is not a scope.*\[INPUT_INVALID\]/);
    const badDate = await cli(['keys', 'create', '--name', 'x', '--expires', 'soon'], env);
    expect(badDate.stderr).toMatch(/--expires/);
    for (const flag of ['--per-minute', '--per-hour']) {
      const badLimit = await cli(['keys', 'create', '--name', 'x', flag, '0'], env);
      expect(badLimit.code).toBe(1);
      expect(badLimit.stderr).toContain(flag);
    }

    const revoked = await cli(['keys', 'revoke', ci.id], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toMatch(new RegExp(`^revoked key ${ci.id} "ci"`));
    expect((await call(key, 'GET', '/api/v1/runs')).statusCode).toBe(401);
    expect((await cli(['keys', 'revoke', 'no-such-key'], env)).stderr).toMatch(/NOT_FOUND/);
  });
});
