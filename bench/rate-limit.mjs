// Workload (h), the cost of API-key rate limits: requests/s of a hot authenticated GET
// (`GET /api/v1/me`: the key lookup, the user row, the JSON answer) through the whole Fastify
// request cycle, once with the rate limiter on and once with it off, in alternating rounds in
// the same process on the same store, so both see the same machine load. The key's limits are
// huge, so the limiter never refuses: what it costs is its per-request work (a map lookup and
// two counters) plus one reservation statement per 1,000 requests. Requests go through
// `app.inject` (no socket), so the limiter's share is as large as it can be: over a real
// socket the same work is a smaller part of each request. See bench/README.md.
import { performance } from 'node:perf_hooks';
import { generateApiKey } from '../dist/auth/index.js';
import { buildApp } from '../dist/server/index.js';
import { benchUser, openStore, storeUrl } from './swarm-lib.mjs';

export const setups = {
  sqlite: { description: 'SQLite file (WAL), app in the same process (app.inject)', backend: 'none' },
  pg: { description: 'PostgreSQL, app in the same process (app.inject)', backend: 'postgres' },
};

export const workload = {
  letter: 'h',
  title: 'rate-limit cost: GET /api/v1/me with the limiter on and off',
  size: { rounds: 10, roundMs: 1000, concurrency: 8 },
  quick: { rounds: 4, roundMs: 500, concurrency: 8 },
};

/** A limit no round gets near: the limiter counts and reserves, never refuses. */
const HUGE = 1_000_000_000;

/**
 * @param {{ setup: keyof typeof setups, pgUrl: string, tmpDir: string, rounds?: number,
 *   roundMs?: number, concurrency?: number }} opts
 */
export async function run(opts) {
  const setup = setups[opts.setup];
  if (!setup) throw new Error(`unknown rate-limit setup ${opts.setup}`);
  const rounds = opts.rounds ?? workload.size.rounds;
  const roundMs = opts.roundMs ?? workload.size.roundMs;
  const concurrency = opts.concurrency ?? workload.size.concurrency;
  const store = await openStore(
    storeUrl({ sqlite: setup.backend === 'none', pgUrl: opts.pgUrl, tmpDir: opts.tmpDir }),
  );
  const user = await benchUser(store);
  const generated = generateApiKey();
  const apiKey = await store
    .as(user.caller)
    .apiKeys.create({ name: 'bench', prefix: generated.prefix, hash: generated.hash, scopes: ['*'] });
  await store.handle.db
    .updateTable('api_keys')
    .set({ rate_limit_per_minute: HUGE, rate_limit_per_hour: HUGE })
    .where('id', '=', apiKey.id)
    .execute();
  const apps = { on: await buildApp({ store }), off: await buildApp({ store, rateLimits: false }) };
  const headers = { authorization: `Bearer ${generated.key}` };
  /** @param {import('fastify').FastifyInstance} app  @param {number} ms */
  const measure = async (app, ms) => {
    let done = 0;
    let failed = 0;
    const until = performance.now() + ms;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          const res = await app.inject({ method: 'GET', url: '/api/v1/me', headers });
          if (res.statusCode === 200) done++;
          else failed++;
        }
      }),
    );
    if (failed > 0) throw new Error(`${failed} requests were not answered 200`);
    const cpu = process.cpuUsage(cpu0);
    return {
      perSec: Math.round(done / ((performance.now() - t0) / 1000)),
      // This process's CPU (user + system) per request: less moved by other load than req/s.
      cpuUs: Math.round(((cpu.user + cpu.system) / done) * 10) / 10,
    };
  };
  try {
    // Warm-up (JIT, connections, the key's first reservations), not counted.
    await measure(apps.on, 300);
    await measure(apps.off, 300);
    /** @type {{ on: { perSec: number, cpuUs: number }[], off: { perSec: number, cpuUs: number }[] }} */
    const samples = { on: [], off: [] };
    for (let r = 0; r < rounds; r++) {
      // Alternating which goes first, so neither always runs right after the other.
      for (const mode of r % 2 === 0 ? ['on', 'off'] : ['off', 'on'])
        samples[/** @type {'on' | 'off'} */ (mode)].push(
          await measure(apps[/** @type {'on' | 'off'} */ (mode)], roundMs),
        );
    }
    const median = (/** @type {number[]} */ v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? 0;
    const onPerSec = median(samples.on.map((x) => x.perSec));
    const offPerSec = median(samples.off.map((x) => x.perSec));
    // Each round's on/off pair ran back to back: the median of their ratios is steadier than the
    // ratio of the medians when other work on the machine comes and goes.
    const ratios = samples.on.map((on, i) => on.perSec / (samples.off[i]?.perSec ?? on.perSec));
    const cpuOnUs = median(samples.on.map((x) => x.cpuUs));
    const cpuOffUs = median(samples.off.map((x) => x.cpuUs));
    const reservations = await store.handle.db
      .selectFrom('rate_limit_tracker')
      .select(['window_type', 'request_count'])
      .execute();
    return {
      rounds,
      roundMs,
      concurrency,
      onPerSec,
      offPerSec,
      ratio: Math.round(median(ratios) * 1000) / 1000,
      cpuOnUs,
      cpuOffUs,
      details: { samples, reservedRows: reservations.length },
    };
  } finally {
    await apps.on.close();
    await apps.off.close();
    await store.close();
  }
}

/**
 * The table of (h) rows, printed after the main report.
 * @param {any[]} rows
 */
export function printRateLimitRows(rows) {
  if (rows.length === 0) return;
  const first = rows[0];
  console.log(
    `\n(${workload.letter}) ${workload.title}: ${first.rounds ?? '?'} rounds of ${first.roundMs ?? '?'} ms each way, ${first.concurrency ?? '?'} requests in flight; medians, and the median of each round's on/off ratio`,
  );
  console.log('  setup    limiter on req/s   limiter off req/s   on / off   CPU µs/request on, off   status');
  for (const r of rows) {
    console.log(
      `  ${String(r.setup).padEnd(8)} ${String(r.onPerSec ?? '—').padStart(17)}   ${String(r.offPerSec ?? '—').padStart(17)}   ${String(r.ratio ?? '—').padStart(8)}   ${`${r.cpuOnUs ?? '—'}, ${r.cpuOffUs ?? '—'}`.padStart(22)}   ${r.status}`,
    );
  }
  for (const r of rows) console.log(`  ${r.setup}: ${r.description}`);
}
