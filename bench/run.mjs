// `npm run bench [-- --quick] [-- --jobs N] [-- --only NAME,...] [-- --timeout S] [-- --repeat N]
//   [-- --engine-repeat N] [-- --runs N] [-- --items N] [-- --samples N] [-- --profile DIR]`
// Runs workload (a) for every system module in bench/systems/, then Swarm's engine workloads
// (b)–(d) (engine.mjs), then the machine-limit reference — each row in its own child process, on
// a fresh database, SQLite file or flushed Redis db — prints the tables, ratios and targets, and
// writes bench/results/<date>-bench.json. See bench/README.md for the workloads and the
// system-module interface.
import { execFileSync, fork } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { getMachineInfo, ensureRedis, redisCommand } from './machine.mjs';
import { withDatabase } from './lib.mjs';
import { printReport } from './report.mjs';
import { setups as ENGINE_SETUPS, workloads as ENGINE_WORKLOADS } from './engine.mjs';
import { setups as PROCESS_SETUPS, workload as PROCESS_WORKLOAD } from './process.mjs';
import { setups as LOOP_SETUPS, workload as LOOP_WORKLOAD } from './agent-loop.mjs';
import {
  setups as RATE_LIMIT_SETUPS,
  workload as RATE_LIMIT_WORKLOAD,
  printRateLimitRows,
} from './rate-limit.mjs';
import { setups as FLOW_SETUPS, workload as FLOW_WORKLOAD, printFlowRows } from './flow.mjs';
import { parseFlags, usageError } from './flags.mjs';

/**
 * @typedef {object} SystemInfo
 * @property {string} name        row label, e.g. 'graphile-worker'
 * @property {'postgres' | 'redis' | 'none'} backend  what the harness prepares fresh for each row
 * @property {string | null} package  npm package whose version is reported (null: the module sets `version`)
 * @property {string} [version]
 *
 * @typedef {object} RunOptions
 * @property {number} jobs       N no-op jobs to enqueue and then drain
 * @property {number} batchSize  jobs per bulk-enqueue call (same for every system)
 * @property {string} config     key of the module's `configs`
 * @property {string} pgUrl      a fresh, empty database of its own (backend 'postgres')
 * @property {string} redisUrl   a flushed Redis db (backend 'redis')
 * @property {string} tmpDir     a fresh empty directory, removed afterwards (e.g. for SQLite files)
 * @property {(partial: { enqueuePerSec?: number }) => void} progress  report what is known so far
 * @property {string[]} execArgv  node flags for any process the module forks (--profile)
 *
 * @typedef {object} RunResult
 * @property {number} enqueuePerSec  N / time of all bulk-enqueue calls
 * @property {number} processPerSec  N / (first handler start → store confirms the last completion)
 * @property {number} [peakRssMb]    the child's own maxRSS, filled in by child.mjs
 * @property {number} [workerRssMb]  the largest peak RSS of the worker processes the module forked
 * @property {Record<string, unknown>} [details]  anything else worth keeping in the JSON
 */

const here = path.dirname(fileURLToPath(import.meta.url));
const started = Date.now();

const { values: args } = parseFlags(import.meta.url, {
  options: {
    quick: { type: 'boolean', default: false },
    jobs: { type: 'string' },
    only: { type: 'string' },
    timeout: { type: 'string', default: '120' },
    repeat: { type: 'string' },
    'engine-repeat': { type: 'string' },
    runs: { type: 'string' },
    items: { type: 'string' },
    samples: { type: 'string' },
    profile: { type: 'string' },
    pg: {
      type: 'string',
      default: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
    redis: { type: 'string', default: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/15' },
  },
});
const jobs = Number(args.jobs ?? (args.quick ? 2000 : 20000));
const repeats = Number(args.repeat ?? (args.quick ? 1 : 3));
const timeoutMs = Number(args.timeout) * 1000;
const only = args.only?.split(',').map((s) => s.trim().toLowerCase());
/** A row runs when --only is absent or one of its words contains one of the --only words. */
const selected = (/** @type {string[]} */ words) =>
  !only || only.some((o) => words.some((w) => w.toLowerCase().includes(o)));
// Engine rows run once each by default: every row is already an aggregate (thousands of steps,
// 200 latency samples), and three repeats of the PostgreSQL fan-out do not fit in 10 minutes.
const engineRepeats = Number(args['engine-repeat'] ?? 1);
const sizes = args.quick ? 'quick' : 'size';
const engineSize = {
  runs: Number(args.runs ?? ENGINE_WORKLOADS.linear[sizes].runs),
  idleRuns: ENGINE_WORKLOADS.linear[sizes].idleRuns,
  items: Number(args.items ?? ENGINE_WORKLOADS.fanout[sizes].items),
  samples: Number(args.samples ?? ENGINE_WORKLOADS.latency[sizes].samples),
};
// --profile DIR: every row's process and every worker process writes a V8 CPU profile there,
// named <database>-<n>.cpuprofile (worker processes: <database>-<n>-worker<i>.cpuprofile).
const profileDir = args.profile ? path.resolve(args.profile) : null;
let profiles = 0;
const BATCH_SIZE = 1000;
const LIMIT = { seconds: args.quick ? 2 : 5, connections: [1, 4] };
for (const [flag, value] of Object.entries({
  jobs,
  repeat: repeats,
  'engine-repeat': engineRepeats,
  ...engineSize,
}))
  if (!Number.isInteger(value) || value < 1)
    usageError(import.meta.url, `--${flag} must be a positive integer, got "${value}"`);

// Swarm first (it is the subject), then the peers in a fixed order, then anything else added.
const ORDER = ['swarm', 'graphile-worker', 'pg-boss', 'bullmq'];
const files = (await readdir(path.join(here, 'systems'))).filter((f) => f.endsWith('.mjs'));
const rank = (/** @type {string} */ f) => {
  const i = ORDER.indexOf(f.replace(/\.mjs$/, ''));
  return i === -1 ? ORDER.length : i;
};
files.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));

const machine = await getMachineInfo(args.pg, await ensureRedis(args.redis));
console.log(
  `bench: (a) ${jobs} jobs per system, enqueued in batches of ${BATCH_SIZE}, ${repeats}× per row; ` +
    `engine: (b) ${engineSize.runs} runs × 3 steps, (c) ${engineSize.items} items, (d) ${engineSize.samples} samples, ${engineRepeats}× per row; ` +
    `${machine.cpuModel} × ${machine.cores}, ${machine.memoryGb} GB, node ${machine.node}, ` +
    `PostgreSQL ${machine.postgres ?? 'unavailable'}, Redis ${machine.redis ?? 'unavailable'}`,
);

/** @type {object[]} */
const rows = [];
for (const file of files) {
  const modulePath = path.join(here, 'systems', file);
  const mod = await import(pathToFileURL(modulePath).href);
  /** @type {SystemInfo} */
  const system = mod.system;
  const version = system.version ?? (system.package ? await packageVersion(system.package) : 'unknown');
  for (const [config, spec] of Object.entries(mod.configs)) {
    if (!selected([system.name, config, 'queue'])) continue;
    const label = `${system.name} (${config})`;
    process.stdout.write(`  ${label} … `);
    const backend = spec.backend ?? system.backend;
    const row = {
      system: system.name,
      version,
      config,
      description: spec.description,
      backend,
      workerProcesses: spec.workers || undefined,
    };
    // Each repeat is a fresh process on a fresh database; the row keeps the median of each figure
    // (on 2 shared cores single runs vary by ±20%) and all samples for the JSON.
    /** @type {Record<string, any>[]} */
    const samples = [];
    let status = 'ok';
    for (let r = 0; r < repeats && status === 'ok'; r++) {
      const outcome = await measure(modulePath, backend, `${system.name}_${config}`, {
        jobs,
        batchSize: BATCH_SIZE,
        config,
      });
      status = outcome.status;
      samples.push({ ...(outcome.result ?? outcome.partial), seconds: outcome.seconds });
      process.stdout.write(status === 'ok' ? `${outcome.result.processPerSec} ` : `${status} `);
    }
    const figures = status === 'ok' ? medians(samples) : (samples.at(-1) ?? {});
    rows.push({ ...row, status, ...figures, samples: samples.length > 1 ? samples : undefined });
    console.log(status !== 'ok' ? '' : repeats > 1 ? `jobs/s → median ${figures.processPerSec}` : 'jobs/s');
  }
}

// Swarm's engine workloads (b)–(d): every workload on every setup, each row on a fresh store.
/** @type {object[]} */
const engineRows = [];
const headline = {
  linear: (/** @type {any} */ r) => `${r.stepsPerSec} steps/s`,
  fanout: (/** @type {any} */ r) => `${r.runSeconds} s`,
  latency: (/** @type {any} */ r) => `p50 ${r.p50Ms} ms`,
};
for (const [workload, w] of Object.entries(ENGINE_WORKLOADS)) {
  for (const [setup, spec] of Object.entries(ENGINE_SETUPS)) {
    if (!selected(['swarm', 'engine', workload, setup])) continue;
    process.stdout.write(`  swarm engine (${w.letter}) ${workload} (${setup}) … `);
    /** @type {Record<string, any>[]} */
    const samples = [];
    let status = 'ok';
    for (let r = 0; r < engineRepeats && status === 'ok'; r++) {
      const outcome = await measure(
        path.join(here, 'engine.mjs'),
        spec.backend,
        `engine_${workload}_${setup}`,
        { workload, setup, ...engineSize },
      );
      status = outcome.status;
      samples.push({ ...(outcome.result ?? outcome.partial), seconds: outcome.seconds });
      const h = headline[/** @type {keyof typeof headline} */ (workload)];
      process.stdout.write(status === 'ok' ? `${h(outcome.result)}; ` : `${status} `);
    }
    const figures = status === 'ok' ? medians(samples) : (samples.at(-1) ?? {});
    engineRows.push({
      workload,
      letter: w.letter,
      title: w.title,
      setup,
      description: spec.description,
      backend: spec.backend,
      workers: spec.workers,
      status,
      ...figures,
      samples: samples.length > 1 ? samples : undefined,
      // Per-sample details (latency samples) are kept from the first sample only.
      details: samples[0]?.details,
    });
    console.log(status === 'ok' && engineRepeats > 1 ? '(medians)' : '');
  }
}

// Swarm's process runtime (e): N no-op node-agent tasks, one child process each (the spawn cost).
const processSize = PROCESS_WORKLOAD[sizes];
const processRows = await swarmRows({
  file: 'process.mjs',
  word: 'process',
  key: 'process',
  label: `process runtime (e) ${processSize.tasks} tasks`,
  setups: PROCESS_SETUPS,
  workload: PROCESS_WORKLOAD,
  headline: (r) => `${r.tasksPerSec} tasks/s, p50 ${r.p50Ms} ms per task`,
});

// The agent loop (i): overhead per tool call, the model and the tool doing nothing.
const loopSize = LOOP_WORKLOAD[sizes];
const loopRows = await swarmRows({
  file: 'agent-loop.mjs',
  word: 'agent-loop',
  key: 'loop',
  label: `agent loop (i) ${loopSize.loops} loops × ${loopSize.toolCalls} tool calls`,
  setups: LOOP_SETUPS,
  workload: LOOP_WORKLOAD,
  headline: (r) => `per tool call p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms`,
});

// The cost of API-key rate limits (h): a hot GET with the limiter on and off, in one process.
const rateLimitRows = await swarmRows({
  file: 'rate-limit.mjs',
  word: 'rate-limit',
  key: 'ratelimit',
  label: 'rate-limit cost (h)',
  setups: RATE_LIMIT_SETUPS,
  workload: RATE_LIMIT_WORKLOAD,
  headline: (r) => `on ${r.onPerSec} req/s, off ${r.offPerSec} req/s (${r.ratio}×)`,
});

// Flow control's cost (j): the same no-op drain unkeyed and under 100 concurrency keys.
const flowRows = await swarmRows({
  file: 'flow.mjs',
  word: 'flow',
  key: 'flow',
  label: 'flow control (j)',
  setups: FLOW_SETUPS,
  workload: FLOW_WORKLOAD,
  headline: (r) => `unkeyed ${r.unkeyedPerSec} tasks/s, keyed ${r.keyedPerSec} tasks/s (${r.ratio}×)`,
});

/** @type {{ txPerSec: Record<string, number>, pgbenchTxPerSec: Record<string, number> | null } | null} */
let limit = null;
if (selected(['machine limit', 'limit'])) {
  process.stdout.write(`  machine limit (pg insert+claim+delete, ${LIMIT.seconds} s per figure) … `);
  const out = await measure(path.join(here, 'reference', 'pg-limit.mjs'), 'postgres', 'limit', LIMIT);
  limit =
    out.status === 'ok'
      ? { txPerSec: out.result.txPerSec, pgbenchTxPerSec: out.result.pgbenchTxPerSec }
      : null;
  console.log(limit ? 'done' : out.status);
}

const wallSeconds = Math.round((Date.now() - started) / 100) / 10;
const report = {
  date: machine.date,
  source: sourceVersion(),
  jobs,
  batchSize: BATCH_SIZE,
  repeats,
  engine: { repeats: engineRepeats, ...engineSize },
  wallSeconds,
  machine,
  rows,
  engineRows,
  process: processSize,
  processRows,
  loopRows,
  rateLimitRows,
  flowRows,
  limit,
};
printReport(report, { swarmPresent: files.includes('swarm.mjs') });
printRateLimitRows(rateLimitRows);
printFlowRows(flowRows);

// The standard full run is kept (small, commit-friendly); quick, partial (--only) and other
// variants go to a .tmp file, which .gitignore ignores.
const standard =
  !args.quick &&
  !only &&
  !profileDir &&
  jobs === 20000 &&
  repeats === 3 &&
  engineRepeats === 1 &&
  args.runs === undefined &&
  args.items === undefined &&
  args.samples === undefined;
const name = `${machine.date.slice(0, 10)}-bench.${standard ? 'json' : 'tmp'}`;
await mkdir(path.join(here, 'results'), { recursive: true });
await writeFile(path.join(here, 'results', name), JSON.stringify(report, null, 2) + '\n');
console.log(`\nwrote bench/results/${name} (wall time ${wallSeconds} s)`);

/**
 * The rows of one of Swarm's workload modules ((e), (h), (i), (j)): every setup it has, each in
 * its own child process on a fresh store, with the module's size for this run (--quick or not).
 * @param {{ file: string, word: string, key: string, label: string,
 *   setups: Record<string, { description: string, backend: string }>,
 *   workload: Record<string, any>, headline: (result: any) => string }} spec
 */
async function swarmRows({ file, word, key, label, setups, workload, headline }) {
  /** @type {object[]} */
  const out = [];
  for (const [setup, spec] of Object.entries(setups)) {
    if (!selected(['swarm', word, setup])) continue;
    process.stdout.write(`  swarm ${label} (${setup}) … `);
    const outcome = await measure(path.join(here, file), spec.backend, `${key}_${setup}`, {
      setup,
      ...workload[sizes],
    });
    out.push({
      workload: word,
      letter: workload.letter,
      title: workload.title,
      setup,
      description: spec.description,
      backend: spec.backend,
      status: outcome.status,
      ...(outcome.result ?? outcome.partial ?? {}),
      seconds: outcome.seconds,
    });
    console.log(outcome.status === 'ok' ? headline(outcome.result) : outcome.status);
  }
  return out;
}

/**
 * Run one module in a child process against a freshly prepared backend, bounded by the timeout.
 * @param {string} modulePath
 * @param {string} backend
 * @param {string} key  names the database
 * @param {object} options
 */
async function measure(modulePath, backend, key, options) {
  const dbName = `bench_${key.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}`;
  const tmpDir = await mkdtemp(path.join(os.tmpdir(), 'swarm-bench-'));
  const execArgv = profileDir
    ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', `${dbName}-${++profiles}.cpuprofile`]
    : [];
  const full = { ...options, pgUrl: withDatabase(args.pg, dbName), redisUrl: args.redis, tmpDir, execArgv };
  const t0 = Date.now();
  try {
    if (backend === 'postgres') {
      if (!machine.postgres) return { status: 'skipped: PostgreSQL unreachable' };
      await recreateDatabase(dbName);
    } else if (backend === 'redis') {
      if (!machine.redis) return { status: 'skipped: Redis unreachable' };
      await redisCommand(args.redis, ['flushdb']);
    }
    const out = await runChild(modulePath, full, execArgv);
    return { ...out, seconds: Math.round((Date.now() - t0) / 100) / 10 };
  } finally {
    if (backend === 'postgres' && machine.postgres) await dropDatabase(dbName).catch(() => {});
    if (backend === 'redis' && machine.redis) await redisCommand(args.redis, ['flushdb']).catch(() => {});
    await rm(tmpDir, { recursive: true, force: true });
  }
}

/**
 * @param {string} modulePath
 * @param {object} options
 * @param {string[]} execArgv
 * @returns {Promise<Record<string, any>>}
 */
function runChild(modulePath, options, execArgv) {
  return new Promise((resolve) => {
    const child = fork(path.join(here, 'child.mjs'), [modulePath, JSON.stringify(options)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv,
    });
    /** @type {Record<string, any>} */
    const partial = {};
    /** @type {Record<string, any> | null} */
    let final = null;
    // Past the limit the system is reported as timed out, with whatever it reported so far.
    const timer = setTimeout(() => {
      final = { status: `timeout after ${timeoutMs / 1000} s`, partial };
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('message', (/** @type {any} */ msg) => {
      const { type, ...body } = msg;
      if (type === 'progress') Object.assign(partial, body);
      if (type === 'result') final ??= { status: 'ok', result: body.result };
      if (type === 'error') final ??= { status: `error: ${String(body.message).split('\n')[0]}`, partial };
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(final ?? { status: `crashed (${signal ?? `exit ${code}`})`, partial });
    });
  });
}

/** @param {string} name */
async function recreateDatabase(name) {
  await dropDatabase(name);
  await adminQuery(`create database ${name}`);
}

/** @param {string} name  FORCE: a killed child may leave connections behind. */
async function dropDatabase(name) {
  await adminQuery(`drop database if exists ${name} with (force)`);
}

/** @param {string} sql */
async function adminQuery(sql) {
  const c = new pg.Client({ connectionString: args.pg });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/**
 * Median of each numeric figure across samples (peak RSS figures: the largest, they are peaks).
 * @param {Record<string, any>[]} samples
 */
function medians(samples) {
  /** @type {Record<string, number>} */
  const out = {};
  for (const key of Object.keys(samples[0] ?? {})) {
    const values = samples
      .map((s) => s[key])
      .filter((v) => typeof v === 'number')
      .sort((a, b) => a - b);
    if (values.length === 0) continue;
    out[key] = key.endsWith('RssMb') ? (values.at(-1) ?? 0) : (values[Math.floor(values.length / 2)] ?? 0);
  }
  return out;
}

/**
 * The commit Swarm's rows measured (they run dist/, built from src/), and whether src/ differed
 * from it; null outside a git checkout.
 */
function sourceVersion() {
  try {
    const git = (/** @type {string[]} */ argv) =>
      execFileSync('git', argv, { cwd: here, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return {
      commit: git(['rev-parse', '--short', 'HEAD']),
      srcModified: git(['status', '--porcelain', '--', '../src']) !== '',
    };
  } catch {
    return null;
  }
}

/** @param {string} pkg */
async function packageVersion(pkg) {
  const file = path.join(here, '..', 'node_modules', pkg, 'package.json');
  return JSON.parse(await readFile(file, 'utf8')).version;
}
