/**
 * The audit log: every change made through the API writes exactly one audit_logs row in the
 * change's own transaction (actor, action, resource, owner, source address, user agent; never a
 * secret value), and GET /api/v1/audit-logs pages through it with filters.
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { Engine } from '../../src/engine/index.js';
import { manifestSigningPayload } from '../../src/registry/agent/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import { pruneAudit, startAuditRetention } from '../../src/server/audit-retention.js';
import { buildApp } from '../../src/server/index.js';
import { newId, Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';
import { validOf } from '../registry/agent/helpers.js';

const IP = '203.0.113.7';
const UA = 'audit-test/1.0';

describe.each(DIALECTS)('audit log on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let adminKey: string;
  let adminId: string;
  const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    const boot = (await bootstrapAdmin(store, testDb.dir, 'http://127.0.0.1:0'))!;
    adminKey = boot.key;
    adminId = boot.user.id;
    app = await buildApp({ store, keyring, engine: new Engine(store) });
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  function call(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    payload?: unknown,
    key = adminKey,
  ) {
    return app.inject({
      method,
      url,
      remoteAddress: IP,
      headers: { authorization: `Bearer ${key}`, 'user-agent': UA },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  }

  async function ok(method: Parameters<typeof call>[0], url: string, payload?: unknown) {
    const res = await call(method, url, payload);
    expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
    return res;
  }

  const rows = (action: string) =>
    store.handle.db.selectFrom('audit_logs').selectAll().where('action', '=', action).execute();
  const everything = async () =>
    JSON.stringify(await store.handle.db.selectFrom('audit_logs').selectAll().execute());

  /** Exactly one row for `action`, by the admin from IP/UA, about this resource. */
  async function expectAudited(action: string, resourceType: string, resourceId?: string) {
    // By resource when named: the first start's own key has a key.create row too.
    const found = (await rows(action)).filter(
      (r) => resourceId === undefined || r.resource_id === resourceId,
    );
    expect(found, action).toHaveLength(1);
    const row = found[0]!;
    expect(row, action).toMatchObject({
      actor_id: adminId,
      owner_id: adminId,
      resource_type: resourceType,
      ip_address: IP,
      user_agent: UA,
      event_type: action.split('.')[0],
    });
    expect(row.key_id, action).not.toBeNull();
    if (resourceId !== undefined) expect(row.resource_id, action).toBe(resourceId);
    return { ...row, metadata: JSON.parse(row.extra_metadata) as Record<string, unknown> };
  }

  const workflow = {
    name: 'hello',
    version: '1.0.0',
    steps: [{ id: 'a', agent: 'builtin/transform', input: { who: '{{ trigger.who }}' } }],
  };

  it('keys: create and revoke, never the key', async () => {
    const created = (await ok('POST', '/api/v1/keys', { name: 'ci', scopes: ['runs:read'] })).json();
    const row = await expectAudited('key.create', 'api_key', created.apiKey.id);
    expect(row.metadata).toMatchObject({ name: 'ci', prefix: created.apiKey.prefix });
    await ok('DELETE', `/api/v1/keys/${created.apiKey.id}`);
    await expectAudited('key.revoke', 'api_key', created.apiKey.id);
    expect(await everything()).not.toContain(created.key);
    expect(await everything()).not.toContain(adminKey);
  });

  it('agents: register (a no-op again writes nothing) and status changes', async () => {
    const keys = generateKeyPairSync('ed25519');
    const publicKey = keys.publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64');
    const doc = {
      name: 'remote',
      version: '1.0.0',
      type: 'execution',
      capabilities: ['x.y'],
      runtime: { type: 'http', endpoint: 'https://agent.example.com/task', public_key: publicKey },
    };
    const signature = sign(null, manifestSigningPayload(validOf(doc)), keys.privateKey).toString('base64');
    const manifest = { ...doc, runtime: { ...doc.runtime, signature } };
    expect((await ok('POST', '/api/v1/agents', manifest)).statusCode).toBe(201);
    expect((await ok('POST', '/api/v1/agents', manifest)).statusCode).toBe(200);
    const row = await expectAudited('agent.register', 'agent', 'remote');
    expect(row.metadata).toMatchObject({ version: '1.0.0', runtime: 'http' });
    await ok('PATCH', '/api/v1/agents/remote', { status: 'deprecated' });
    expect((await expectAudited('agent.status', 'agent', 'remote')).metadata).toMatchObject({
      status: 'deprecated',
    });
  });

  it('workflows: apply (not a no-op apply) and enable/disable', async () => {
    expect((await ok('POST', '/api/v1/workflows', workflow)).statusCode).toBe(201);
    expect((await ok('POST', '/api/v1/workflows', workflow)).statusCode).toBe(200);
    expect((await expectAudited('workflow.apply', 'workflow', 'hello')).metadata).toMatchObject({
      version: '1.0.0',
    });
    await ok('PATCH', '/api/v1/workflows/hello', { enabled: false });
    await expectAudited('workflow.disable', 'workflow', 'hello');
    await ok('PATCH', '/api/v1/workflows/hello', { enabled: true });
    await expectAudited('workflow.enable', 'workflow', 'hello');
  });

  it('runs: start, cancel, retry', async () => {
    await ok('POST', '/api/v1/workflows', workflow);
    const { id } = (await ok('POST', '/api/v1/workflows/hello/runs', { input: { who: 'Ada' } })).json();
    expect((await expectAudited('run.start', 'run', id)).metadata).toMatchObject({ workflow: 'hello' });
    await ok('POST', `/api/v1/runs/${id}/cancel`, { reason: 'enough' });
    expect((await expectAudited('run.cancel', 'run', id)).metadata).toMatchObject({ reason: 'enough' });
    await ok('POST', `/api/v1/runs/${id}/retry`, {});
    expect((await expectAudited('run.retry', 'run', id)).metadata).toMatchObject({ attempt: 2 });
  });

  it('tasks: enqueue and cancel, chains, templates', async () => {
    const task = (
      await ok('POST', '/api/v1/tasks', { agent: 'builtin/noop', type: 'ping', input: {} })
    ).json();
    await expectAudited('task.enqueue', 'task', task.id);
    await ok('POST', `/api/v1/tasks/${task.id}/cancel`, { reason: 'no' });
    await expectAudited('task.cancel', 'task', task.id);
    const chain = (await ok('POST', '/api/v1/task-chains', { steps: [{ agent: 'builtin/noop' }] })).json();
    await expectAudited('task_chain.start', 'task_chain', chain.id);
    await ok('POST', `/api/v1/task-chains/${chain.id}/cancel`, {});
    await expectAudited('task_chain.cancel', 'task_chain', chain.id);
    await ok('PUT', '/api/v1/task-templates/mine', { type: 't', agent: 'builtin/noop' });
    await expectAudited('task_template.put', 'task_template', 'mine');
    await ok('DELETE', '/api/v1/task-templates/mine');
    await expectAudited('task_template.delete', 'task_template', 'mine');
  });

  it('secrets: set and remove, never the value', async () => {
    const value = `s3cr3t-${randomBytes(8).toString('hex')}`;
    const set = (await ok('PUT', '/api/v1/secrets/DB_PASSWORD', { value })).json();
    expect((await expectAudited('secret.set', 'secret', set.secret.id)).metadata).toMatchObject({
      name: 'DB_PASSWORD',
      created: true,
    });
    await ok('DELETE', '/api/v1/secrets/DB_PASSWORD');
    await expectAudited('secret.remove', 'secret', set.secret.id);
    expect(await everything()).not.toContain(value);
  });

  it('triggers: created by an apply, disabled, secret rotated, deleted; never the secret', async () => {
    const hooked = { ...workflow, trigger: { type: 'webhook' } };
    const applied = (await ok('POST', '/api/v1/workflows', hooked)).json();
    const trigger = await expectAudited('trigger.create', 'trigger', applied.trigger.id);
    expect(trigger.metadata).toMatchObject({ workflow: 'hello', type: 'webhook' });
    // Applying the same definition again changes nothing, so the trigger's sync is no event.
    expect((await ok('POST', '/api/v1/workflows', hooked)).statusCode).toBe(200);
    expect(await rows('trigger.update')).toEqual([]);
    await ok('POST', '/api/v1/triggers/hello/disable');
    await expectAudited('trigger.disable', 'trigger', applied.trigger.id);
    const rotated = (await ok('POST', '/api/v1/triggers/hello/rotate-secret', {})).json();
    await expectAudited('trigger.rotate_secret', 'trigger', applied.trigger.id);
    await ok('POST', '/api/v1/workflows', { ...workflow, version: '1.1.0' });
    await expectAudited('trigger.delete', 'trigger', applied.trigger.id);
    const log = await everything();
    expect(log).not.toContain(applied.trigger.secret);
    expect(log).not.toContain(rotated.secret);
  });

  it('webhooks: create, update, delete; never the signing secret', async () => {
    const created = (
      await ok('POST', '/api/v1/webhooks', {
        name: 'ops',
        url: 'https://hooks.example.com/in',
        eventTypes: ['run.*'],
      })
    ).json();
    const id = created.webhook.id;
    await expectAudited('webhook.create', 'webhook', id);
    await ok('PATCH', `/api/v1/webhooks/${id}`, { active: false });
    await expectAudited('webhook.update', 'webhook', id);
    const rotated = (await ok('POST', `/api/v1/webhooks/${id}/rotate-secret`)).json();
    await expectAudited('webhook.rotate_secret', 'webhook', id);
    await ok('POST', `/api/v1/webhooks/${id}/test`);
    await expectAudited('webhook.test', 'webhook', id);
    expect(await everything()).not.toContain(rotated.secret);
    await ok('DELETE', `/api/v1/webhooks/${id}`);
    await expectAudited('webhook.delete', 'webhook', id);
    expect(await everything()).not.toContain(created.secret);
  });

  it('LLM providers: set and remove', async () => {
    await ok('PUT', '/api/v1/secrets/OPENAI_KEY', { value: 'sk-not-in-the-log' });
    const set = (
      await ok('PUT', '/api/v1/llm-providers/openai', {
        provider: 'openai',
        model: 'gpt-4o-mini',
        api_key_secret: 'OPENAI_KEY',
      })
    ).json();
    await expectAudited('llm_provider.set', 'llm_provider', set.provider.id);
    await ok('DELETE', '/api/v1/llm-providers/openai');
    await expectAudited('llm_provider.remove', 'llm_provider', set.provider.id);
    expect(await everything()).not.toContain('sk-not-in-the-log');
  });

  it('scheduled tasks: create, update, delete', async () => {
    const created = (
      await ok('POST', '/api/v1/scheduled-tasks', { name: 'nightly', cron: '30 2 * * *', capability: 'x.y' })
    ).json();
    await expectAudited('scheduled_task.create', 'scheduled_task', created.id);
    await ok('PATCH', `/api/v1/scheduled-tasks/${created.id}`, { active: false });
    await expectAudited('scheduled_task.update', 'scheduled_task', created.id);
    await ok('DELETE', `/api/v1/scheduled-tasks/${created.id}`);
    await expectAudited('scheduled_task.delete', 'scheduled_task', created.id);
  });

  it('a refused audit row rolls its change back', async () => {
    // A real database trigger refuses the audit rows of two kinds of change.
    if (dialect === 'sqlite') {
      await sql`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_logs
        WHEN NEW.action IN ('secret.set', 'workflow.apply')
        BEGIN SELECT RAISE(ABORT, 'audit refused'); END`.execute(store.handle.db);
    } else {
      await sql`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit refused'; END $$`.execute(store.handle.db);
      await sql`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_logs FOR EACH ROW
        WHEN (NEW.action IN ('secret.set', 'workflow.apply')) EXECUTE FUNCTION refuse_audit()`.execute(
        store.handle.db,
      );
    }
    expect((await call('PUT', '/api/v1/secrets/TOKEN', { value: 'v' })).statusCode).toBe(500);
    expect(await store.handle.db.selectFrom('secrets').selectAll().execute()).toEqual([]);
    expect((await call('POST', '/api/v1/workflows', workflow)).statusCode).toBe(500);
    expect(await store.handle.db.selectFrom('workflows').selectAll().execute()).toEqual([]);
  });

  describe('GET /api/v1/audit-logs', () => {
    const list = async (query: string, key = adminKey) => {
      const res = await call('GET', `/api/v1/audit-logs${query}`, undefined, key);
      expect(res.statusCode, res.body).toBe(200);
      return res.json() as { items: Array<Record<string, unknown>>; nextCursor: string | null };
    };

    it('filters by action (exact, family, prefix), resource, actor and time', async () => {
      await ok('POST', '/api/v1/workflows', workflow);
      const { id } = (await ok('POST', '/api/v1/workflows/hello/runs', { input: {} })).json();
      await ok('POST', `/api/v1/runs/${id}/cancel`, {});
      expect((await list('?action=run.cancel')).items.map((r) => r.action)).toEqual(['run.cancel']);
      expect((await list('?action=run')).items.map((r) => r.action)).toEqual(['run.cancel', 'run.start']);
      expect((await list('?action=work*')).items.map((r) => r.action)).toEqual(['workflow.apply']);
      const byResource = await list(`?resourceType=run&resourceId=${id}`);
      expect(byResource.items).toHaveLength(2);
      expect(byResource.items[0]).toMatchObject({ actorId: adminId, ipAddress: IP, userAgent: UA });
      expect((await list(`?actor=${adminId}&action=run`)).items).toHaveLength(2);
      const email = (await call('GET', '/api/v1/me')).json().email as string;
      expect(byResource.items[0]).toMatchObject({ actorEmail: email });
      expect((await list(`?actor=${encodeURIComponent(email)}&action=run`)).items).toHaveLength(2);
      expect((await list('?actor=nobody')).items).toEqual([]);
      const future = new Date(Date.now() + 60_000).toISOString();
      expect((await list(`?since=${future}`)).items).toEqual([]);
      expect((await list(`?until=${future}&action=run`)).items).toHaveLength(2);
    });

    it('pages newest first with an opaque cursor, without gaps or repeats', async () => {
      for (let i = 0; i < 7; i++) await ok('PUT', `/api/v1/secrets/S${i}`, { value: `v${i}` });
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await list(`?action=secret&limit=3${cursor === null ? '' : `&cursor=${cursor}`}`);
        seen.push(...page.items.map((r) => (r.metadata as { name: string }).name));
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null);
      expect(pages).toBe(3);
      expect(seen).toEqual(['S6', 'S5', 'S4', 'S3', 'S2', 'S1', 'S0']);
    });

    it('shows admins everyone’s rows and members only their own', async () => {
      const member = await memberWithKey(store, { name: 'M', email: 'm@example.com' }, 'm');
      const memberId = member.apiKey.ownerId;
      expect((await call('PUT', '/api/v1/secrets/MINE', { value: 'x' }, member.key)).statusCode).toBe(201);
      await ok('PUT', '/api/v1/secrets/ADMINS', { value: 'y' });
      const mine = await list('?action=secret', member.key);
      expect(mine.items.map((r) => (r.metadata as { name: string }).name)).toEqual(['MINE']);
      expect(mine.items[0]).toMatchObject({ ownerId: memberId, actorId: memberId });
      const all = await list('?action=secret');
      expect(all.items.map((r) => (r.metadata as { name: string }).name)).toEqual(['ADMINS', 'MINE']);
      // A member filtering by the admin sees nothing of theirs.
      expect((await list(`?actor=${adminId}`, member.key)).items).toEqual([]);
    });

    it.each([
      ['?since=yesterday', 'since'],
      ['?until=2026-13-45T00:00:00Z', 'until'],
      ['?cursor=bm90LWEtY3Vyc29y', 'cursor'],
      ['?limit=0', 'limit'],
      ['?limit=501', 'limit'],
      ['?colour=blue', 'querystring.colour'],
    ])('answers 400 problem+json naming the field for %s', async (query, field) => {
      const res = await call('GET', `/api/v1/audit-logs${query}`);
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json().errors.map((e: { field: string }) => e.field)).toContain(field);
    });
  });

  it('prunes rows past the retention, and keeps everything with 0 days', async () => {
    const old = new Date(Date.now() - 40 * 86_400_000).toISOString();
    await store.handle.db
      .insertInto('audit_logs')
      .values([
        { id: newId(), event_type: 'x', action: 'x.old', success: 1, created_at: old },
        { id: newId(), event_type: 'x', action: 'x.new', success: 1, created_at: new Date().toISOString() },
      ])
      .execute();
    const stop = startAuditRetention(store, { days: 0, onError: () => {} });
    await stop();
    expect(await rows('x.old')).toHaveLength(1);
    expect(await pruneAudit(store, 30)).toBe(1);
    expect(await rows('x.old')).toHaveLength(0);
    expect(await rows('x.new')).toHaveLength(1);
  });
});
