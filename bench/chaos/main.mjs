// `npm run chaos -- --minutes M [--workers N] [--seed S] [--pg URL] [--rate R] [--lease-ms MS]
//   [--drain-seconds S] [--pg-restarts N] [--server-kills N] [--kill-every S] [--stall-every S]
//   [--server-worker] [--flow]
//   [--dist DIR] [--keep]`
// A Jepsen-style test of Swarm on PostgreSQL (bench/README.md, "Chaos"): a fresh database, one
// API server and N standalone workers from the built dist/; thousands of multi-step runs started
// through the API and through signed webhooks; meanwhile, drawn from the seed, workers killed
// (kill -9, restarted a moment later) and stalled past their lease (SIGSTOP … SIGCONT), PostgreSQL
// restarted, and the server killed while a burst of webhooks arrives. Then every process is made
// whole, the runs drain, and the checker compares what clients were told with the database:
// lost, duplicated and stuck runs and steps, failures with their reasons, re-claim latency.
// --flow puts the workflows under flow control (workload.mjs, withFlow: step concurrency keys, a
// rate limit, a run-level `queue` limit); the checker then also checks, from the tasks' recorded
// attempts, that no concurrency key ever held more slots at once than its limit.
// Exits 1 on any lost, duplicated, stuck, wrong or mismatched run, a failure the injected faults
// do not explain, a Swarm process that crashed, a 5xx other than 503, or (--flow) a concurrency
// limit exceeded.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { withDatabase } from '../lib.mjs';
import { check, readDatabase } from './checker.mjs';
import { FaultInjector, prng, timeline } from './faults.mjs';
import { freePort, killAll, pgRestartCommand, SwarmProcess } from './procs.mjs';
import { printReport } from './report.mjs';
import {
  DAG_WORKFLOW,
  deliverWebhook,
  History,
  HOOK_WORKFLOW,
  startApiRun,
  acceptedAnswer,
  withFlow,
} from './workload.mjs';
import { parseFlags, usageError } from '../flags.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

const { values: args } = parseFlags(import.meta.url, {
  options: {
    minutes: { type: 'string', default: '1' },
    workers: { type: 'string', default: '4' },
    seed: { type: 'string' },
    pg: {
      type: 'string',
      default: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
    // Runs started per second (three in four through the API, one in four by webhook).
    rate: { type: 'string', default: '8' },
    'lease-ms': { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '16' },
    'drain-seconds': { type: 'string', default: '180' },
    'pg-restarts': { type: 'string' },
    'server-kills': { type: 'string' },
    // Mean seconds between worker kills and between worker stalls (0: none).
    'kill-every': { type: 'string', default: '15' },
    'stall-every': { type: 'string', default: '45' },
    // Clients pause while more runs than this are unfinished: the machine sets the pace, and the
    // drain at the end stays short.
    'max-backlog': { type: 'string', default: '400' },
    'server-worker': { type: 'boolean', default: false },
    flow: { type: 'boolean', default: false },
    dist: { type: 'string', default: path.join(here, '..', '..', 'dist') },
    keep: { type: 'boolean', default: false },
  },
});

/** @param {string} name  @param {number} min  @param {number} max */
function number(name, min, max) {
  const value = Number(args[name]);
  if (!Number.isFinite(value) || value < min || value > max) {
    usageError(import.meta.url, `--${name} must be a number from ${min} to ${max}, got "${args[name]}"`);
  }
  return value;
}
const minutes = number('minutes', 0.25, 24 * 60);
const workerCount = Math.round(number('workers', 1, 64));
const rate = number('rate', 0.1, 1000);
const leaseMs = Math.round(number('lease-ms', 500, 600_000));
const concurrency = Math.round(number('concurrency', 1, 1024));
const drainMs = number('drain-seconds', 10, 3600) * 1000;
const killEveryMs = number('kill-every', 0, 3600) * 1000;
const stallEveryMs = number('stall-every', 0, 3600) * 1000;
const maxBacklog = Math.round(number('max-backlog', 1, 1e6));
const seed = args.seed === undefined ? Date.now() % 2 ** 31 : Math.round(number('seed', 0, 2 ** 32 - 1));
if (args['pg-restarts'] === undefined) args['pg-restarts'] = String(Math.max(1, Math.round(minutes / 3)));
if (args['server-kills'] === undefined) args['server-kills'] = String(Math.max(1, Math.round(minutes / 3)));
const pgRestarts = Math.round(number('pg-restarts', 0, 100));
const serverKills = Math.round(number('server-kills', 0, 100));
const dist = path.resolve(args.dist);
const mainJs = path.join(dist, 'cli', 'main.js');
if (!existsSync(mainJs)) {
  console.error(`${mainJs} not found: run \`npm run build\` first (or pass --dist)`);
  process.exit(2);
}

const started = Date.now();
const say = (/** @type {string} */ line) =>
  console.log(`[chaos ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}`);
const random = prng(seed);
const clientRandom = prng(seed ^ 0x5eed);

const pgRestart = pgRestarts > 0 ? await pgRestartCommand(args.pg) : null;
if (pgRestarts > 0 && pgRestart === null) {
  console.error(
    `cannot restart the PostgreSQL of ${args.pg}: it is not a local pg_ctlcluster cluster (pass --pg-restarts 0 to run without)`,
  );
  process.exit(2);
}

const tmp = await mkdtemp(path.join(os.tmpdir(), 'swarm-chaos-'));
const logDir = path.join(tmp, 'logs');
await mkdir(logDir);
const dbName = `chaos_${new Date().toISOString().slice(0, 19).replace(/\D/g, '')}_${randomBytes(3).toString('hex')}`;
const databaseUrl = withDatabase(args.pg, dbName);
const masterKey = randomBytes(32).toString('base64');

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

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));
let stopping = false;
/** @type {pg.Pool | null} */
let monitor = null;
let cleaned = false;
/** Kills every process this run started and drops its database; keeps the logs when asked. */
async function cleanup(keepFiles) {
  if (cleaned) return;
  cleaned = true;
  killAll();
  await monitor?.end().catch(() => {});
  if (!args.keep) {
    // The database may be mid-restart: try for a while.
    for (let i = 0; i < 30; i++) {
      try {
        await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
        break;
      } catch {
        await sleep(1000);
      }
    }
  }
  if (keepFiles || args.keep)
    console.log(`logs kept in ${logDir}${args.keep ? `, database ${databaseUrl}` : ''}`);
  else await rm(tmp, { recursive: true, force: true });
}
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(signal, () => {
    console.log(`\n${signal}: stopping every process and dropping ${dbName}`);
    stopping = true;
    void cleanup(false).finally(() => process.exit(130));
  });
}

await adminQuery(`CREATE DATABASE ${dbName}`);
say(
  `seed ${seed}; database ${dbName}; ${workerCount} workers (concurrency ${concurrency}, lease ${leaseMs} ms); ${minutes} min at ${rate} runs/s; logs in ${logDir}`,
);

const baseEnv = {
  ...process.env,
  DATABASE_URL: databaseUrl,
  SWARM_MASTER_KEY: masterKey,
  SWARM_LOG_LEVEL: 'warn',
  SWARM_EXAMPLES: 'false',
  SWARM_LEASE_MS: String(leaseMs),
  SWARM_WORKER_CONCURRENCY: String(concurrency),
};
const port = await freePort();
const server = new SwarmProcess({
  name: 'server',
  mainJs,
  args: ['start'],
  env: {
    ...baseEnv,
    SWARM_HOME: path.join(tmp, 'server'),
    SWARM_PORT: String(port),
    SWARM_HOST: '127.0.0.1',
    SWARM_WORKER: args['server-worker'] ? 'true' : 'false',
  },
  ready: /listening on (http:\/\/\S+)/,
  logDir,
});
const workers = Array.from(
  { length: workerCount },
  (_, i) =>
    new SwarmProcess({
      name: `worker-${i + 1}`,
      mainJs,
      args: ['worker', '--concurrency', String(concurrency), '--lease-ms', String(leaseMs)],
      env: { ...baseEnv, SWARM_HOME: path.join(tmp, `worker-${i + 1}`) },
      ready: /worker (\S+) started on/,
      logDir,
    }),
);
// A process that dies by itself is a defect (reported); the run restarts it, as a supervisor would.
for (const p of [server, ...workers]) {
  p.onCrash = () => {
    say(`${p.o.name} CRASHED: ${p.crashes.at(-1)?.end}\n${p.crashes.at(-1)?.log}`);
    if (!stopping)
      setTimeout(() => void p.start().catch((e) => say(`${p.o.name} restart failed: ${e}`)), 1000);
  };
}

const history = new History();
// Stalls of the machine itself: this process not running for 2 s or more means every process on
// the machine was starved (another load on shared cores). Workers renew no lease then either; the
// checker tells failures such stalls explain from those nothing explains.
const machineStalls = [];
let lastTick = Date.now();
const stallWatch = setInterval(() => {
  const now = Date.now();
  if (now - lastTick >= 2000) machineStalls.push({ type: 'machine-stall', at: lastTick, to: now });
  lastTick = now;
}, 250);
let exitCode = 1;
try {
  await server.start();
  const url = `http://127.0.0.1:${port}`;
  // The first start prints the admin key it created, just after the listening line.
  let apiKey;
  for (let i = 0; i < 200 && apiKey === undefined; i++) {
    apiKey = /(swarm_[A-Za-z0-9_-]{16,})/.exec(server.tail)?.[1];
    if (apiKey === undefined) await sleep(50);
  }
  if (apiKey === undefined) throw new Error(`the server printed no admin key:\n${server.tail}`);
  // The clients send far more than a default key's 60 requests a minute: the chaos run tests
  // durability, not rate limits (bench/rate-limit.mjs and test/cli/rate-limit-processes.test.ts do).
  {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      await client.query(
        'update api_keys set rate_limit_per_minute = 1000000000, rate_limit_per_hour = 1000000000',
      );
    } finally {
      await client.end();
    }
  }
  const api = async (method, route, body) => {
    const res = await fetch(`${url}${route}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const flow = args.flow === true;
  await api('POST', '/api/v1/workflows', flow ? withFlow(DAG_WORKFLOW) : DAG_WORKFLOW);
  const applied = await api('POST', '/api/v1/workflows', flow ? withFlow(HOOK_WORKFLOW) : HOOK_WORKFLOW);
  const secret = applied.trigger?.secret;
  if (typeof secret !== 'string') throw new Error('the webhook workflow came without its secret');
  const hookUrl = `${url}${applied.trigger.url}`;
  await Promise.all(workers.map((w) => w.start()));
  say(`server on ${url}, ${workers.length} workers up`);

  monitor = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  monitor.on('error', () => {}); // a restart cuts idle connections; the next query reconnects
  const counts = { unfinished: 0, completed: 0, failed: 0, at: 0 };
  const poll = async () => {
    try {
      const { rows } = await monitor.query(
        `SELECT status, count(*)::int AS n FROM workflow_runs GROUP BY status`,
      );
      const by = Object.fromEntries(rows.map((r) => [r.status, r.n]));
      counts.unfinished = (by.pending ?? 0) + (by.running ?? 0);
      counts.completed = by.completed ?? 0;
      counts.failed = (by.failed ?? 0) + (by.timeout ?? 0) + (by.cancelled ?? 0);
      counts.at = Date.now();
    } catch {
      // PostgreSQL restarting: keep the last counts
    }
  };

  // --- load, with faults ---------------------------------------------------------------------
  const loadMs = minutes * 60_000;
  const loadEnd = Date.now() + loadMs;
  const deliveryDeadline = loadEnd + 60_000;
  const inFlight = new Set();
  const track = (/** @type {Promise<unknown>} */ p) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    return p;
  };
  let sequence = 0;
  const hookCtx = { hookUrl, secret, history, random: clientRandom };
  const newItems = () =>
    Array.from({ length: 1 + Math.floor(clientRandom() * 8) }, () => Math.floor(clientRandom() * 100));
  const sendHook = () => {
    const data = { key: `hook-${seed}-${++sequence}`, items: newItems() };
    return track(
      deliverWebhook(hookCtx, data, deliveryDeadline).then((entry) => {
        // Now and then the sender resends a delivery it was answered for (a lost answer): it must
        // start nothing and name the same run.
        if (acceptedAnswer(entry) !== null && clientRandom() < 0.05 && !stopping)
          return deliverWebhook(hookCtx, data, deliveryDeadline, true);
      }),
    );
  };
  const sendApi = () => {
    const items = newItems();
    const data = {
      key: `api-${seed}-${++sequence}`,
      items,
      delay_ms: Math.floor(clientRandom() * 300),
      expected: items.reduce((s, x) => s + x * x, 0),
    };
    return track(startApiRun({ url, apiKey, history }, data));
  };

  const faults = new FaultInjector({
    random,
    workers,
    server,
    leaseMs,
    pgRestart,
    webhookBurst: (size) => Promise.all(Array.from({ length: size }, sendHook)),
    say,
  });
  const schedule = timeline(random, {
    durationMs: loadMs,
    killEveryMs,
    stallEveryMs,
    pgRestarts,
    serverKills,
  });
  say(
    `fault schedule: ${['kill', 'stall', 'pg-restart', 'server-kill']
      .map((type) => `${schedule.filter((e) => e.type === type).length} × ${type}`)
      .join(', ')}`,
  );

  const loadStart = Date.now();
  let budget = 0;
  let throttledTicks = 0;
  let nextFault = 0;
  let nextPoll = 0;
  let nextReport = loadStart + 10_000;
  while (Date.now() < loadEnd && !stopping) {
    const now = Date.now();
    while (nextFault < schedule.length && loadStart + schedule[nextFault].t <= now)
      faults.inject(schedule[nextFault++].type);
    if (now >= nextPoll) {
      nextPoll = now + 2000;
      void poll();
    }
    const accepted =
      history.api.filter((o) => o.runId !== null).length +
      history.hooks.filter((h) => acceptedAnswer(h)).length;
    const backlog = Math.max(counts.unfinished, accepted - counts.completed - counts.failed);
    budget = Math.min(budget + rate / 10, rate);
    if (backlog > maxBacklog || inFlight.size > 256) throttledTicks++;
    else {
      for (; budget >= 1; budget--) {
        if (clientRandom() < 0.75) void sendApi();
        else void sendHook();
      }
    }
    if (now >= nextReport) {
      nextReport += 10_000;
      const count = (type) => faults.done.filter((f) => f.type === type && !f.skipped).length;
      say(
        `accepted ${accepted} (api ${history.api.length}, hooks ${history.hooks.length}) · done ${counts.completed} · failed ${counts.failed} · unfinished ${counts.unfinished} · kills ${count('kill')} · stalls ${count('stall')} · pg restarts ${count('pg-restart')} · server kills ${count('server-kill')}`,
      );
    }
    await sleep(100);
  }

  // --- heal and drain ------------------------------------------------------------------------
  say(`load over: waiting for ${inFlight.size} client requests and the faults in progress`);
  while (inFlight.size > 0) await Promise.all([...inFlight]);
  await faults.settle();
  for (const p of [server, ...workers]) if (p.state === 'stopped') p.resume();
  for (const p of [server, ...workers]) if (p.state === 'down') await p.start();
  const drainStart = Date.now();
  say('every process up; draining');
  for (;;) {
    await poll();
    if (counts.at >= drainStart && counts.unfinished === 0) break;
    if (Date.now() - drainStart > drainMs) {
      say(`drain timed out after ${drainMs / 1000} s with ${counts.unfinished} runs unfinished`);
      break;
    }
    await sleep(1000);
  }
  const drainedMs = Date.now() - drainStart;

  // --- check ---------------------------------------------------------------------------------
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  let result;
  let db;
  try {
    db = await readDatabase(client);
    result = check(history, db, [...faults.done, ...machineStalls], leaseMs, { flow: args.flow === true });
  } finally {
    await client.end();
  }
  const crashes = [server, ...workers].flatMap((p) => p.crashes.map((c) => ({ process: p.o.name, ...c })));
  const summary = printReport({
    seed,
    minutes,
    workers: workerCount,
    leaseMs,
    rate,
    history,
    faults: faults.done,
    machineStalls,
    crashes,
    result,
    drainedMs,
    throttledSeconds: throttledTicks / 10,
    elapsedMs: Date.now() - started,
  });
  const resultsDir = path.join(here, '..', 'results');
  await mkdir(resultsDir, { recursive: true });
  // Runs of 10 minutes or more are the ones the README quotes; shorter ones go to a .tmp file,
  // which git ignores (as the benchmark's quick runs do).
  const file = path.join(
    resultsDir,
    `${new Date().toISOString().slice(0, 10)}-chaos.${minutes >= 10 ? 'json' : 'tmp'}`,
  );
  await writeFile(file, `${JSON.stringify(summary, null, 2)}\n`);
  // The whole client-side history, next to the processes' logs (kept when the run fails).
  await writeFile(
    path.join(logDir, 'history.json'),
    JSON.stringify({ history, faults: faults.done, machineStalls }),
  );
  say(`wrote ${path.relative(process.cwd(), file)}`);
  exitCode = summary.ok ? 0 : 1;
  // What the checker read, for a look at a failed run after its database is dropped.
  if (!summary.ok) await writeFile(path.join(logDir, 'db.json'), JSON.stringify(db));
} catch (error) {
  console.error(error);
  exitCode = 1;
} finally {
  clearInterval(stallWatch);
  stopping = true;
  await Promise.all([server, ...workers].map((p) => p.shutdown().catch(() => {})));
  await Promise.all([server, ...workers].map((p) => p.close()));
  await cleanup(exitCode !== 0);
}
process.exit(exitCode);
