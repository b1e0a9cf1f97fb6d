// `npm run bench:webhooks [-- --requests N] [-- --duplicates N] [-- --only sqlite|postgres]
//   [-- --worker on|off|both] [-- --pg URL] [-- --dist DIR]`
// A load test of incoming webhook triggers (POST /hooks/<path>), not part of `npm test`: for each
// database it starts a real Swarm server (`swarm start` from the built dist/, in its own process,
// with or without its in-process worker), applies a webhook workflow (one builtin/transform step) and syncs its
// trigger through the library to learn the secret, then fires N concurrent signed deliveries, each
// with its own Idempotency-Key, plus resends of earlier keys — half racing their originals in the
// same burst, half sent after it. Then it reads the database and reports:
//   accepted    2xx answers (202 new, 200 resend)
//   lost        an accepted delivery whose key has no firing, or whose firing has no run
//   duplicated  keys that started more than one run (the body carries the key, so runs are counted per key)
//   mismatched  resends answered with another run id than their original
//   latency     per request, send to answer: p50 / p95 / p99 / max
// and writes bench/results/<date>-webhooks.json. Needs `npm run build` after changing src/.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { withDatabase } from './lib.mjs';
import { getMachineInfo } from './machine.mjs';
import { parseFlags } from './flags.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

const { values: args } = parseFlags(import.meta.url, {
  options: {
    requests: { type: 'string', default: '200' },
    duplicates: { type: 'string', default: '20' },
    only: { type: 'string' },
    // The server's in-process worker (what `swarm start` runs) executes the runs while deliveries
    // arrive, on the same event loop; `off` measures receiving alone (SWARM_WORKER=false).
    worker: { type: 'string', default: 'both' },
    pg: {
      type: 'string',
      default: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
    // Another build of Swarm (e.g. a worktree's dist/): the bench drives that one.
    dist: { type: 'string', default: path.join(here, '..', 'dist') },
  },
});
const REQUESTS = Number(args.requests);
const DUPLICATES = Number(args.duplicates);
const dist = path.resolve(args.dist);
/** @param {string} module e.g. 'storage/index.js' */
const load = (module) => import(pathToFileURL(path.join(dist, module)).href);

const { Store } = await load('storage/index.js');
const { Registry } = await load('registry/index.js');
const { openKeyring } = await load('secrets/index.js');
const { loadConfig } = await load('config/index.js');
const { syncTriggers, signPayload } = await load('triggers/index.js');

const WORKFLOW = {
  name: 'bench-hook',
  version: '1.0.0',
  trigger: { type: 'webhook', path: 'bench/hook' },
  steps: [{ id: 'echo', agent: 'builtin/transform', input: { key: '{{ trigger.key }}' } }],
};

/** @param {number[]} sorted  @param {number} p */
const percentile = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
const round = (/** @type {number} */ ms) => Math.round(ms * 10) / 10;

/**
 * Starts `swarm start` on `databaseUrl` with a fresh SWARM_HOME and resolves with its URL.
 * @param {string} databaseUrl  @param {string} home  @param {string} masterKey
 */
async function startServer(databaseUrl, home, masterKey, worker) {
  const child = spawn(process.execPath, [path.join(dist, 'cli', 'main.js'), 'start'], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      SWARM_HOME: home,
      SWARM_PORT: '0',
      SWARM_HOST: '127.0.0.1',
      SWARM_EXAMPLES: 'false',
      SWARM_MASTER_KEY: masterKey,
      SWARM_LOG_LEVEL: 'warn',
      SWARM_WORKER: worker ? 'true' : 'false',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolve(match[1]);
    });
    child.on('exit', (code) => reject(new Error(`swarm start exited with ${code}: ${out}`)));
  });
  return {
    url: /** @type {string} */ (url),
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * One delivery; resolves with its answer and how long it took.
 * @param {string} url  @param {string} secret  @param {string} key  @param {number} i
 */
async function deliver(url, secret, key, i) {
  const body = JSON.stringify({ key, i });
  const t0 = performance.now();
  try {
    const res = await fetch(url, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'idempotency-key': key,
        'x-swarm-signature': signPayload(secret, body),
      },
    });
    const json = await res.json().catch(() => null);
    return {
      key,
      status: res.status,
      runId: json?.runId ?? null,
      duplicate: json?.duplicate ?? null,
      ms: performance.now() - t0,
    };
  } catch (error) {
    return { key, status: 0, runId: null, duplicate: null, ms: performance.now() - t0, error: String(error) };
  }
}

/** @param {'sqlite' | 'postgres'} database  @param {boolean} worker */
async function runOne(database, worker) {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'swarm-bench-webhooks-'));
  const pgName = `bench_webhooks_${randomBytes(4).toString('hex')}`;
  const databaseUrl =
    database === 'sqlite' ? `sqlite:${path.join(tmp, 'swarm.db')}` : withDatabase(args.pg, pgName);
  if (database === 'postgres') await adminQuery(`CREATE DATABASE ${pgName}`);
  const masterKey = randomBytes(32).toString('base64');
  const server = await startServer(databaseUrl, path.join(tmp, 'home'), masterKey, worker);
  // The server migrated the database and created its admin; the bench acts as that admin.
  const store = await Store.open(databaseUrl, { migrate: false, poolSize: 4 });
  try {
    const admin = await store.handle.db
      .selectFrom('users')
      .select(['id', 'role'])
      .where('email', '=', 'admin@localhost')
      .executeTakeFirstOrThrow();
    const caller = { userId: admin.id, role: admin.role };
    const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: masterKey }));
    const { workflow } = await new Registry(store).as(caller).workflows.apply(WORKFLOW);
    const [trigger] = await syncTriggers(store, keyring, caller, [workflow]);
    if (!trigger?.secret) throw new Error('the webhook trigger was not created with a secret');
    const hookUrl = `${server.url}/hooks/${trigger.path}`;

    // Warm-up on its own keys (JIT, connections): not counted, not checked.
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => deliver(hookUrl, trigger.secret, `warm-${i}`, -1)),
    );

    const keys = Array.from({ length: REQUESTS }, (_, i) => `bench-${i}`);
    const racing = Math.ceil(DUPLICATES / 2);
    const t0 = performance.now();
    const burst = await Promise.all([
      ...keys.map((key, i) => deliver(hookUrl, trigger.secret, key, i)),
      // Resends racing their originals (a sender that retried at once).
      ...keys.slice(0, racing).map((key, i) => deliver(hookUrl, trigger.secret, key, i)),
    ]);
    const burstMs = performance.now() - t0;
    // Resends after the originals were answered (a sender that missed the answer).
    const later = await Promise.all(
      keys.slice(racing, DUPLICATES).map((key, i) => deliver(hookUrl, trigger.secret, key, racing + i)),
    );
    const all = [...burst, ...later];

    const accepted = all.filter((r) => r.status >= 200 && r.status < 300);
    const firings = await store.handle.db
      .selectFrom('trigger_firings')
      .select(['fire_key', 'run_id'])
      .where('trigger_id', '=', trigger.id)
      .execute();
    const firingByKey = new Map(firings.map((f) => [f.fire_key, f.run_id]));
    const runs = await store.handle.db
      .selectFrom('workflow_runs')
      .select(['id', 'trigger_data'])
      .where('trigger_id', '=', trigger.id)
      .execute();
    /** @type {Map<string, string[]>} */
    const runsByKey = new Map();
    for (const run of runs) {
      const key = JSON.parse(run.trigger_data ?? '{}').key;
      runsByKey.set(key, [...(runsByKey.get(key) ?? []), run.id]);
    }
    const lost = new Set(
      accepted
        .filter((r) => {
          const runId = firingByKey.get(`idem:${r.key}`);
          return runId == null || !runsByKey.get(r.key)?.includes(runId) || r.runId !== runId;
        })
        .map((r) => r.key),
    );
    const duplicated = [...runsByKey.values()].filter((ids) => ids.length > 1).length;
    const firstRun = new Map(burst.slice(0, REQUESTS).map((r) => [r.key, r.runId]));
    const resends = [...burst.slice(REQUESTS), ...later];
    const mismatched = resends.filter((r) => r.runId !== firstRun.get(r.key)).length;
    const sorted = all.map((r) => r.ms).sort((a, b) => a - b);
    /** @type {Record<string, number>} */
    const statuses = {};
    for (const r of all) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    return {
      database,
      worker,
      requests: all.length,
      uniqueKeys: REQUESTS,
      resends: resends.length,
      accepted: accepted.length,
      statuses,
      lost: lost.size,
      duplicated,
      mismatched,
      runsStarted: runsByKey.size - [...runsByKey.keys()].filter((k) => String(k).startsWith('warm-')).length,
      resendsMarkedDuplicate: resends.filter((r) => r.duplicate === true).length,
      burstMs: round(burstMs),
      acceptedPerSec: Math.round(
        (burst.filter((r) => r.status >= 200 && r.status < 300).length * 1000) / burstMs,
      ),
      latencyMs: {
        p50: round(percentile(sorted, 50)),
        p95: round(percentile(sorted, 95)),
        p99: round(percentile(sorted, 99)),
        max: round(sorted[sorted.length - 1] ?? 0),
      },
      errors: [...new Set(all.filter((r) => r.error).map((r) => r.error))].slice(0, 5),
    };
  } finally {
    await store.close();
    await server.stop();
    if (database === 'postgres') await adminQuery(`DROP DATABASE IF EXISTS ${pgName} WITH (FORCE)`);
    await rm(tmp, { recursive: true, force: true });
  }
}

/** @param {string} text */
async function adminQuery(text) {
  const client = new pg.Client({ connectionString: args.pg });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

const databases = /** @type {const} */ (['sqlite', 'postgres']).filter(
  (d) => !args.only || args.only.includes(d),
);
const machine = await getMachineInfo(args.pg, null);
const workers = args.worker === 'both' ? [true, false] : [args.worker !== 'off'];
const rows = [];
for (const database of databases) {
  for (const worker of workers) {
    process.stderr.write(
      `webhooks on ${database}, worker ${worker ? 'on' : 'off'}: ${REQUESTS} deliveries + ${DUPLICATES} resends…\n`,
    );
    rows.push(await runOne(database, worker));
  }
}

console.log(
  `\nIncoming webhooks: ${REQUESTS} concurrent signed deliveries + ${DUPLICATES} resends (${machine.cpuModel}, ${machine.cores} cores)`,
);
console.table(
  Object.fromEntries(
    rows.map((r) => [
      `${r.database}, worker ${r.worker ? 'on' : 'off'}`,
      {
        requests: r.requests,
        accepted: r.accepted,
        lost: r.lost,
        duplicated: r.duplicated,
        mismatched: r.mismatched,
        runs: r.runsStarted,
        'accepted/s': r.acceptedPerSec,
        'p50 ms': r.latencyMs.p50,
        'p95 ms': r.latencyMs.p95,
        'p99 ms': r.latencyMs.p99,
        'max ms': r.latencyMs.max,
      },
    ]),
  ),
);
for (const r of rows) if (r.errors.length > 0) console.log(`${r.database} errors:`, r.errors);

const resultsDir = path.join(here, 'results');
await mkdir(resultsDir, { recursive: true });
const file = path.join(resultsDir, `${machine.date.slice(0, 10)}-webhooks.json`);
await writeFile(
  file,
  `${JSON.stringify({ machine, requests: REQUESTS, duplicates: DUPLICATES, rows }, null, 2)}\n`,
);
console.log(`wrote ${path.relative(process.cwd(), file)}`);
const failed = rows.some(
  (r) => r.lost > 0 || r.duplicated > 0 || r.mismatched > 0 || r.accepted < r.requests,
);
process.exitCode = failed ? 1 : 0;
