import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AuthFailureCounter,
  bootstrapAdmin,
  MAX_PREFIXES_PER_ADDRESS,
  MAX_ROWS_PER_WINDOW,
} from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { Engine } from '../../src/engine/index.js';
import { Registry } from '../../src/registry/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store, type Caller } from '../../src/storage/index.js';
import { signPayload, syncTriggers, type SyncedTrigger } from '../../src/triggers/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';

const NOW = Date.parse('2026-03-01T12:00:30Z');

/** In batches: all at once would only measure the event loop. */
async function times(n: number, request: (i: number) => Promise<{ statusCode: number }>): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => request(i + j)));
    statuses.push(...batch.map((r) => r.statusCode));
  }
  return statuses;
}

describe.each(DIALECTS)('failed authentications counted per window on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let admin: Caller;
  let adminKey: string;
  let hook: SyncedTrigger;

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    const boot = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!;
    admin = { userId: boot.user.id, role: boot.user.role };
    adminKey = boot.key;
    const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));
    // A stopped clock: every request of a test falls in one window (the bounds are per window).
    const authFailures = new AuthFailureCounter(store, { now: () => NOW });
    app = await buildApp({ store, engine: new Engine(store), keyring, authFailures });
    const { workflow } = await new Registry(store).as(admin).workflows.apply({
      name: 'on-order',
      version: '1.0.0',
      trigger: { type: 'webhook', path: 'shop/orders' },
      steps: [{ id: 'a', agent: 'builtin/transform', input: {} }],
    });
    [hook] = (await syncTriggers(store, keyring, admin, [workflow])) as [SyncedTrigger];
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });
  // One database for the file (setting one up is the slow part); each test starts with no counts.
  beforeEach(async () => {
    await app.authFailures.flush();
    await store.handle.db.deleteFrom('auth_failures').execute();
  });

  const rows = () => store.handle.db.selectFrom('auth_failures').selectAll().execute();
  const auditRows = async () =>
    Number(
      (
        await store.handle.db
          .selectFrom('audit_logs')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const total = (list: { attempts: number }[]) => list.reduce((sum, r) => sum + Number(r.attempts), 0);

  it('1,000 requests with one bad key make one row counting 1,000, and no audit rows', async () => {
    const audits = await auditRows();
    const statuses = await times(1000, () =>
      app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: 'Bearer swarm_guessing_1' } }),
    );
    expect(new Set(statuses)).toEqual(new Set([401]));
    await app.authFailures.flush();
    expect(await rows()).toMatchObject([
      {
        kind: 'api_key',
        window_start: '2026-03-01T12:00:00.000Z',
        ip_address: '127.0.0.1',
        key_prefix: 'swarm_guessi',
        reason: 'unknown API key',
        attempts: 1000,
        owner_id: null,
      },
    ]);
    expect(await auditRows()).toBe(audits);
  });

  it('bounds the rows of a window when the key varies', async () => {
    // 100 different keys from one address: 16 prefixes apart, the rest as `*`.
    await times(100, (i) =>
      app.inject({
        method: 'GET',
        url: '/api/v1/me',
        remoteAddress: '192.0.2.7',
        headers: { authorization: `Bearer k${i}` },
      }),
    );
    await app.authFailures.flush();
    const list = await rows();
    expect(list).toHaveLength(MAX_PREFIXES_PER_ADDRESS + 1);
    expect(total(list)).toBe(100);
    expect(list.find((r) => r.key_prefix === '*')?.attempts).toBe(100 - MAX_PREFIXES_PER_ADDRESS);
  });

  it('bounds the rows of a window when the address varies (an IPv6 /64 has plenty)', async () => {
    const counter = new AuthFailureCounter(store, { now: () => NOW });
    for (let i = 0; i < 1000; i++) {
      counter.record({
        kind: 'api_key',
        reason: 'unknown API key',
        ipAddress: `2001:db8::${i.toString(16)}`,
      });
    }
    await counter.close();
    const list = await rows();
    expect(list).toHaveLength(MAX_ROWS_PER_WINDOW + 1);
    expect(total(list)).toBe(1000);
    expect(list.find((r) => r.ip_address === '*')?.attempts).toBe(1000 - MAX_ROWS_PER_WINDOW);
  });

  it('counts bad webhook signatures the same way, for the trigger owner to see', async () => {
    const audits = await auditRows();
    const statuses = await times(300, () =>
      app.inject({
        method: 'POST',
        url: '/hooks/shop/orders',
        payload: '{}',
        headers: {
          'content-type': 'application/json',
          'x-swarm-signature': signPayload('whsec_wrong', '{}'),
        },
      }),
    );
    expect(new Set(statuses)).toEqual(new Set([401]));
    await app.authFailures.flush();
    expect(await rows()).toMatchObject([
      {
        kind: 'webhook',
        resource_id: hook.id,
        reason: 'no_matching_signature',
        attempts: 300,
        owner_id: admin.userId,
      },
    ]);
    expect(await auditRows()).toBe(audits);
  });

  it('adds up across flushes and several counters (servers) on one database', async () => {
    const other = new AuthFailureCounter(store, { now: () => NOW + 1000 });
    for (let i = 0; i < 3; i++) {
      app.authFailures.record({
        kind: 'api_key',
        reason: 'unknown API key',
        ipAddress: '10.0.0.1',
        keyPrefix: 'p',
      });
      other.record({ kind: 'api_key', reason: 'unknown API key', ipAddress: '10.0.0.1', keyPrefix: 'p' });
      await Promise.all([app.authFailures.flush(), other.flush()]);
    }
    await other.close();
    expect(await rows()).toMatchObject([{ ip_address: '10.0.0.1', key_prefix: 'p', attempts: 6 }]);
  });

  it('shows the counts at GET /api/v1/auth-failures: all to admins, their own to members', async () => {
    await app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: 'Bearer nope' } });
    await app.inject({
      method: 'POST',
      url: '/hooks/shop/orders',
      payload: '{}',
      headers: { 'content-type': 'application/json' },
    });
    await app.authFailures.flush();
    const list = async (key: string, query = '') => {
      const res = await app.inject({
        method: 'GET',
        url: `/api/v1/auth-failures${query}`,
        headers: { authorization: `Bearer ${key}` },
      });
      expect(res.statusCode, res.body).toBe(200);
      return res.json().items as { kind: string; reason: string; attempts: number }[];
    };
    expect((await list(adminKey)).map((i) => [i.kind, i.reason, i.attempts]).sort()).toEqual([
      ['api_key', 'unknown API key', 1],
      ['webhook', 'missing_header', 1],
    ]);
    expect((await list(adminKey, '?kind=webhook&limit=5')).map((i) => i.kind)).toEqual(['webhook']);
    expect(await list(adminKey, '?since=2999-01-01T00:00:00Z')).toEqual([]);
    const member = await memberWithKey(store, { name: 'M', email: 'm@example.com' }, 'm');
    expect(await list(member.key)).toEqual([]);
  });
});
