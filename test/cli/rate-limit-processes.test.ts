import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/auth/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { MAIN, startSwarm, stopAll, type Started } from '../helpers/swarm-process.js';

/** The "minute" window of the servers below: 60 s × 0.2 (SWARM_RATE_LIMIT_WINDOW_SCALE). */
const SCALE = 0.2;
const WINDOW_MS = 60_000 * SCALE;

// Two real `swarm start` processes (dist/, built by `npm test`) on one PostgreSQL database.
describe.skipIf(!DIALECTS.includes('postgres'))('rate limits across two swarm start processes', () => {
  let testDb: TestDatabase;

  beforeEach(async () => {
    testDb = await createTestDatabase('postgres');
  });
  afterEach(async () => {
    await stopAll();
    await testDb.drop();
  });

  it('grants a 60/min key exactly 60 requests in a window across both, then 429 with Retry-After', async () => {
    expect(fs.existsSync(MAIN), 'dist/ is built by `npm test`').toBe(true);
    const env = (name: string) => ({
      DATABASE_URL: testDb.url,
      SWARM_HOME: path.join(testDb.dir, name),
      SWARM_PORT: '0',
      SWARM_WORKER: 'false',
      SWARM_EXAMPLES: 'false',
      SWARM_TRIGGERS: 'false',
      SWARM_MASTER_KEY: masterKey,
      SWARM_RATE_LIMIT_WINDOW_SCALE: String(SCALE),
    });
    const masterKey = randomBytes(32).toString('base64');
    const first: Started = await startSwarm(env('a'), testDb.dir, true);
    const second: Started = await startSwarm(env('b'), testDb.dir, false);
    const key = first.key!;
    const store = await Store.open(testDb.url, { migrate: false, poolSize: 1 });
    try {
      const found = (await store.system.findApiKeyByHash(hashApiKey(key)))!;
      await store.handle.db
        .updateTable('api_keys')
        .set({ rate_limit_per_minute: 60, rate_limit_per_hour: 1000 })
        .where('id', '=', found.key.id)
        .execute();
    } finally {
      await store.close();
    }

    // Start at the beginning of a window (the servers' windows are aligned to the clock), so all
    // 150 requests fall in one: 10 at a time, alternating between the two servers.
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS - (Date.now() % WINDOW_MS) + 50));
    const startedAt = Date.now();
    const answers: { server: number; status: number; retryAfter: string | null }[] = [];
    for (let batch = 0; batch < 15; batch++) {
      answers.push(
        ...(await Promise.all(
          Array.from({ length: 10 }, async (_, i) => {
            const server = i % 2;
            const res = await fetch(`${[first, second][server]!.url}/api/v1/me`, {
              headers: { authorization: `Bearer ${key}` },
            });
            await res.arrayBuffer();
            return { server, status: res.status, retryAfter: res.headers.get('retry-after') };
          }),
        )),
      );
    }
    const elapsed = Date.now() - startedAt;
    expect(elapsed, 'all requests fell in one window').toBeLessThan(WINDOW_MS - 100);

    const granted = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    expect(granted).toHaveLength(60);
    expect(refused).toHaveLength(90);
    // Both servers served part of the 60 (each from its own reservations).
    expect(new Set(granted.map((a) => a.server)).size).toBe(2);
    // Once both servers had refused, nothing more was granted: the last batches are all 429.
    expect(answers.slice(-20).every((a) => a.status === 429)).toBe(true);
    for (const a of refused) {
      const seconds = Number(a.retryAfter);
      expect(seconds).toBeGreaterThanOrEqual(1);
      expect(seconds).toBeLessThanOrEqual(WINDOW_MS / 1000);
    }

    // The next window grants again, on either server.
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS - (Date.now() % WINDOW_MS) + 50));
    for (const server of [first, second]) {
      const res = await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit')).toMatch(/^"minute";r=\d+;t=\d+, "hour";r=\d+;t=\d+$/);
    }
  }, 120_000);
});
