/**
 * Admins see and manage every owner's resources (issue 13, item 1) through one door: the
 * `X-Swarm-Owner` header. The request runs as that owner, every query still filtered by owner;
 * the audit row names the admin as actor and the owner as owner. Nobody else may send it.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { Engine } from '../../src/engine/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';

describe.each(DIALECTS)('an admin acting for another owner on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let adminKey: string;
  let adminId: string;
  let ada: { key: string; id: string };
  let bob: { key: string; id: string };
  let adasRun: string;

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    const boot = (await bootstrapAdmin(store, testDb.dir, 'http://127.0.0.1:0'))!;
    adminKey = boot.key;
    adminId = boot.user.id;
    const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));
    // No worker: runs stay pending, so cancelling one is a change the admin makes.
    app = await buildApp({ store, keyring, engine: new Engine(store) });
    for (const [name, set] of [
      ['ada', (v: typeof ada) => (ada = v)],
      ['bob', (v: typeof bob) => (bob = v)],
    ] as const) {
      const made = await memberWithKey(store, { name, email: `${name}@example.com` }, name);
      set({ key: made.key, id: (await store.system.findUserByEmail(`${name}@example.com`))!.id });
    }
    const applied = await call(ada.key, 'POST', '/api/v1/workflows', {
      name: 'hello',
      version: '1.0.0',
      steps: [{ id: 'a', agent: 'builtin/transform', input: { who: '{{ trigger.who }}' } }],
    });
    expect(applied.statusCode, applied.body).toBeLessThan(300);
    const started = await call(ada.key, 'POST', '/api/v1/workflows/hello/runs', { input: { who: 'Ada' } });
    expect(started.statusCode, started.body).toBe(202);
    adasRun = started.json().id;
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  function call(key: string, method: 'GET' | 'POST', url: string, payload?: object, owner?: string) {
    return app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${key}`, ...(owner === undefined ? {} : { 'x-swarm-owner': owner }) },
      ...(payload === undefined ? {} : { payload }),
    });
  }

  it("does not show an admin another owner's run without the header", async () => {
    expect((await call(adminKey, 'GET', `/api/v1/runs/${adasRun}`)).statusCode).toBe(404);
    const listed = (await call(adminKey, 'GET', '/api/v1/runs')).json();
    expect(JSON.stringify(listed)).not.toContain(adasRun);
  });

  it("shows and lists the owner's runs by email or id", async () => {
    const byEmail = await call(adminKey, 'GET', `/api/v1/runs/${adasRun}`, undefined, 'ada@example.com');
    expect(byEmail.statusCode, byEmail.body).toBe(200);
    expect(byEmail.json().id).toBe(adasRun);
    const listed = await call(adminKey, 'GET', '/api/v1/runs', undefined, ada.id);
    expect(listed.statusCode, listed.body).toBe(200);
    expect(JSON.stringify(listed.json())).toContain(adasRun);
    // Bob's view through the admin is Bob's: Ada's run is not in it.
    const bobs = await call(adminKey, 'GET', `/api/v1/runs/${adasRun}`, undefined, 'bob@example.com');
    expect(bobs.statusCode).toBe(404);
  });

  it('manages them: the change is the owner’s, the audit row names the admin', async () => {
    const cancelled = await call(adminKey, 'POST', `/api/v1/runs/${adasRun}/cancel`, {}, 'ada@example.com');
    expect(cancelled.statusCode, cancelled.body).toBeLessThan(300);
    expect((await call(ada.key, 'GET', `/api/v1/runs/${adasRun}`)).json().status).toBe('cancelled');
    const rows = await store.handle.db
      .selectFrom('audit_logs')
      .selectAll()
      .where('action', '=', 'run.cancel')
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor_id: adminId, owner_id: ada.id, resource_id: adasRun });
    // Ada sees it in her own audit log.
    const hers = (await call(ada.key, 'GET', '/api/v1/audit-logs?action=run.cancel')).json();
    expect(hers.items.map((r: { actorId: string }) => r.actorId)).toEqual([adminId]);
  });

  it('refuses the header from anyone but an admin, and an unknown user, writing nothing', async () => {
    const before = await store.handle.db.selectFrom('audit_logs').select('id').execute();
    const bobTries = await call(bob.key, 'POST', `/api/v1/runs/${adasRun}/retry`, {}, 'ada@example.com');
    expect(bobTries.statusCode).toBe(403);
    expect(bobTries.json()).toMatchObject({
      code: 'FORBIDDEN',
      detail: expect.stringMatching(/X-Swarm-Owner/),
    });
    for (const owner of ['nobody@example.com', 'no-such-id', ' ', 'ada@example.com,bob@example.com']) {
      const res = await call(adminKey, 'GET', '/api/v1/runs', undefined, owner);
      expect(res.statusCode, owner).toBe(400);
      expect(res.json().detail, owner).toMatch(/^X-Swarm-Owner: /);
    }
    expect(await store.handle.db.selectFrom('audit_logs').select('id').execute()).toHaveLength(before.length);
  });

  it('leaves sign-in and session routes to the person signed in', async () => {
    const me = await call(adminKey, 'GET', '/api/v1/auth/session', undefined, 'ada@example.com');
    // A key has no session; what matters is that the header is not refused or applied here.
    expect([200, 401, 404]).toContain(me.statusCode);
    const sessions = await call(adminKey, 'GET', '/api/v1/auth/sessions', undefined, 'ada@example.com');
    expect(sessions.statusCode, sessions.body).toBe(200);
  });
});
