import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { bootstrapAdmin, RateLimiter } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { until } from '../helpers/until.js';
import { memberWithKey } from '../helpers/users.js';

// 10 s into a minute and into an hour: the minute window ends in 50 s, the hour in 3,590 s.
const T0 = Date.parse('2026-12-03T10:00:10.000Z');

describe.each(DIALECTS)('API-key rate limits on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let apps: FastifyInstance[];
  let app: FastifyInstance;
  let adminKey: string;
  let adminKeyId: string;
  let now: number;

  const clock = () => now;
  const auth = (key: string) => ({ authorization: `Bearer ${key}` });
  const get = (key: string, url = '/api/v1/me', on = app) =>
    on.inject({ method: 'GET', url, headers: auth(key) });
  const setLimits = (keyId: string, perMinute: number, perHour: number) =>
    store.handle.db
      .updateTable('api_keys')
      .set({ rate_limit_per_minute: perMinute, rate_limit_per_hour: perHour })
      .where('id', '=', keyId)
      .execute();
  const tracked = (keyId: string) =>
    store.handle.db
      .selectFrom('rate_limit_tracker')
      .select(['window_type', 'window_start', 'request_count'])
      .where('key_id', '=', keyId)
      .orderBy('window_type', 'desc')
      .orderBy('window_start')
      .execute();
  const build = async (options: Parameters<typeof buildApp>[0]) => {
    const built = await buildApp(options);
    apps.push(built);
    return built;
  };

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    const boot = (await bootstrapAdmin(store, testDb.dir, 'http://127.0.0.1:0'))!;
    adminKey = boot.key;
    adminKeyId = boot.apiKey.id;
    now = T0;
    apps = [];
    app = await build({ store, rateLimits: { now: clock } });
  });
  afterEach(async () => {
    for (const built of apps) await built.close();
    await store.close();
    await testDb.drop();
  });

  it('counts down in RateLimit on every answer, then refuses with 429, Retry-After and problem+json', async () => {
    await setLimits(adminKeyId, 5, 100);
    for (let i = 1; i <= 5; i++) {
      // An answer that is an error (no such route) counts and carries the headers too.
      const res = await get(adminKey, i === 3 ? '/api/v1/no-such-route' : '/api/v1/me');
      expect(res.statusCode).toBe(i === 3 ? 404 : 200);
      expect(res.headers['ratelimit-policy']).toBe('"minute";q=5;w=60, "hour";q=100;w=3600');
      expect(res.headers['ratelimit']).toBe(`"minute";r=${5 - i};t=50, "hour";r=${100 - i};t=3590`);
      expect(res.headers['retry-after']).toBeUndefined();
    }
    now += 2_500;
    const refused = await get(adminKey);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.headers['retry-after']).toBe('48');
    expect(refused.headers['ratelimit']).toBe('"minute";r=0;t=48, "hour";r=95;t=3588');
    expect(refused.headers['x-content-type-options']).toBe('nosniff');
    expect(refused.json()).toMatchObject({
      status: 429,
      code: 'RATE_LIMITED',
      detail: 'this API key may make 5 requests per minute; try again in 48 s',
    });
    // Refused requests are not counted. The database holds what was reserved: the minute one
    // request at a time (5 / 16 rounds down to 1), the hour in one reservation of 100 / 16 = 6.
    expect((await tracked(adminKeyId)).map((r) => [r.window_type, Number(r.request_count)])).toEqual([
      ['minute', 5],
      ['hour', 6],
    ]);
  });

  it('starts afresh in the next minute window', async () => {
    await setLimits(adminKeyId, 3, 100);
    for (let i = 0; i < 3; i++) expect((await get(adminKey)).statusCode).toBe(200);
    expect((await get(adminKey)).statusCode).toBe(429);
    now = T0 + 49_999;
    expect((await get(adminKey)).statusCode).toBe(429);
    now = T0 + 50_000; // 10:01:00, a new minute
    const res = await get(adminKey);
    expect(res.statusCode).toBe(200);
    expect(res.headers['ratelimit']).toBe('"minute";r=2;t=60, "hour";r=96;t=3540');
  });

  it('applies the hour limit across minute windows, with Retry-After to the end of the hour', async () => {
    await setLimits(adminKeyId, 100, 7);
    for (let i = 0; i < 3; i++) expect((await get(adminKey)).statusCode).toBe(200);
    now = T0 + 60_000;
    for (let i = 0; i < 4; i++) expect((await get(adminKey)).statusCode).toBe(200);
    now = T0 + 120_000;
    const refused = await get(adminKey);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe(String(3590 - 120));
    expect(refused.headers['ratelimit']).toBe(`"minute";r=100;t=50, "hour";r=0;t=${3590 - 120}`);
    expect(refused.json().detail).toBe(
      `this API key may make 7 requests per hour; try again in ${3590 - 120} s`,
    );
    now = T0 + 3_590_000; // 11:00:00
    expect((await get(adminKey)).statusCode).toBe(200);
  });

  it('counts each key apart', async () => {
    const member = await memberWithKey(store, { name: 'M', email: 'm@example.com' }, 'm');
    await setLimits(adminKeyId, 2, 100);
    await setLimits(member.apiKey.id, 3, 100);
    for (let i = 0; i < 3; i++) expect((await get(member.key)).statusCode).toBe(200);
    expect((await get(member.key)).statusCode).toBe(429);
    const admin = await get(adminKey);
    expect(admin.statusCode).toBe(200);
    expect(admin.headers['ratelimit']).toBe('"minute";r=1;t=50, "hour";r=99;t=3590');
    expect((await get(adminKey)).statusCode).toBe(200);
    expect((await get(adminKey)).statusCode).toBe(429);
  });

  it('sets no rate-limit headers where no key is used, and counts no refused key', async () => {
    for (const res of [
      await app.inject({ method: 'GET', url: '/healthz' }),
      await app.inject({ method: 'GET', url: '/api/v1/openapi.json' }),
      await app.inject({ method: 'GET', url: '/api/v1/me' }),
      await get('swarm_not_a_key'),
    ]) {
      expect(res.headers['ratelimit']).toBeUndefined();
      expect(res.headers['ratelimit-policy']).toBeUndefined();
    }
    expect(await store.handle.db.selectFrom('rate_limit_tracker').selectAll().execute()).toEqual([]);
  });

  it('grants exactly the limit to concurrent requests, and to two servers sharing the database', async () => {
    await setLimits(adminKeyId, 40, 1000);
    const second = await Store.open(testDb.url);
    try {
      const other = await build({ store: second, rateLimits: { now: clock } });
      // 120 requests at once, alternating between the two apps (two limiters, two pools).
      const answers = await Promise.all(
        Array.from({ length: 120 }, (_, i) => get(adminKey, '/api/v1/me', i % 2 === 0 ? app : other)),
      );
      const statuses = answers.map((r) => r.statusCode);
      expect(statuses.filter((s) => s === 200)).toHaveLength(40);
      expect(statuses.filter((s) => s === 429)).toHaveLength(80);
      const rows = await tracked(adminKeyId);
      expect(rows.find((r) => r.window_type === 'minute')?.request_count).toBe(40);
      await other.close();
    } finally {
      await second.close();
    }
  });

  it('gives back what it reserved and did not use when it closes', async () => {
    await setLimits(adminKeyId, 60, 1000);
    expect((await get(adminKey)).statusCode).toBe(200);
    // The first reservation took 60/16 = 3 of the minute and 1000/16 = 62 of the hour.
    expect((await tracked(adminKeyId)).map((r) => Number(r.request_count))).toEqual([3, 62]);
    await app.close();
    expect((await tracked(adminKeyId)).map((r) => Number(r.request_count))).toEqual([1, 1]);
  });

  it("tops up a busy key's reservation in the background before it runs out", async () => {
    await setLimits(adminKeyId, 1600, 1600);
    // Reservations are a sixteenth of what is left: 100 first. When a quarter of the next one
    // (1,500 / 16 = 93) is left, i.e. 23, at the 77th request, the next 93 are asked for in the
    // background, while requests go on being served from the pool.
    for (let i = 0; i < 77; i++) expect((await get(adminKey)).statusCode).toBe(200);
    await until('the second reservation', async () => {
      const counts = (await tracked(adminKeyId)).map((r) => Number(r.request_count));
      return counts[0] === 193 && counts[1] === 193;
    });
    await app.close(); // gives back what was reserved and not used
    expect((await tracked(adminKeyId)).map((r) => Number(r.request_count))).toEqual([77, 77]);
  });

  it('deletes windows more than two hours old', async () => {
    const old = new Date(T0 - 3 * 3_600_000).toISOString();
    const recent = new Date(T0 - 3_600_000).toISOString();
    await store.handle.db
      .insertInto('rate_limit_tracker')
      .values([
        { id: 'old', key_id: adminKeyId, window_start: old, window_type: 'hour', request_count: 9 },
        { id: 'recent', key_id: adminKeyId, window_start: recent, window_type: 'hour', request_count: 9 },
      ])
      .execute();
    expect((await get(adminKey)).statusCode).toBe(200);
    await app.close(); // waits for the prune the first reservation started
    const starts = (await tracked(adminKeyId)).map((r) => new Date(r.window_start).toISOString());
    expect(starts).not.toContain(old);
    expect(starts).toContain(recent);
  });

  it('shortens both windows by the test-only scale, and can be turned off', async () => {
    const scaled = await build({ store, rateLimits: { windowScale: 0.1, now: clock } });
    const res = await get(adminKey, '/api/v1/me', scaled);
    expect(res.headers['ratelimit-policy']).toBe('"minute";q=60;w=6, "hour";q=1000;w=360');
    // 10:00:10 is 4 s into a 6 s window, 10 s into a 360 s one.
    expect(res.headers['ratelimit']).toMatch(/^"minute";r=\d+;t=2, "hour";r=\d+;t=350$/);
    const off = await build({ store, rateLimits: false });
    const free = await get(adminKey, '/api/v1/me', off);
    expect(free.statusCode).toBe(200);
    expect(free.headers['ratelimit']).toBeUndefined();
  });

  it('refuses a window scale outside (0, 1]', () => {
    for (const bad of [0, -1, 2, Number.NaN])
      expect(() => new RateLimiter(store, { windowScale: bad })).toThrow(/windowScale/);
    for (const bad of ['0', '1.5', 'abc', '-0.1'])
      expect(() => loadConfig({ SWARM_RATE_LIMIT_WINDOW_SCALE: bad }, '/tmp')).toThrow(
        /SWARM_RATE_LIMIT_WINDOW_SCALE/,
      );
    expect(loadConfig({ SWARM_RATE_LIMIT_WINDOW_SCALE: '0.05' }, '/tmp').rateLimitWindowScale).toBe(0.05);
    expect(loadConfig({}, '/tmp').rateLimitWindowScale).toBe(1);
  });
});
