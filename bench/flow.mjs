// Workload (j), flow control's cost in the claim (docs/flow-control.md): the same queue drained
// unkeyed, then with every task under one of 100 concurrency keys of limit 10, on a fresh
// database each time. Claimers claim, complete at once (no-op work) and claim again, as a worker
// with instant tasks does; throughput is tasks / (first claim → last completion). The two drains
// alternate `rounds` times in one process, so both see the same machine load; the row keeps the
// median of each and the median of the rounds' ratios. Part of `npm run bench` (`--only flow`);
// on its own:
//
//   node bench/flow.mjs                       # 10,000 tasks, 4 claimers, both dialects
//   node bench/flow.mjs --tasks 50000 --claimers 8 --dialect postgres --rounds 3
//
// Runs the built code (dist/): `npm run build` after changing src/.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { integerFlag, parseFlags, usageError } from './flags.mjs';

export const setups = {
  sqlite: { description: 'SQLite file (WAL), the claimers in one process', backend: 'none' },
  pg: { description: 'PostgreSQL, the claimers in one process sharing its pool', backend: 'postgres' },
};

export const workload = {
  letter: 'j',
  title: 'flow control: no-op tasks drained unkeyed, then under 100 concurrency keys of limit 10',
  size: { tasks: 10_000, claimers: 4, batch: 32, rounds: 2 },
  quick: { tasks: 2_000, claimers: 4, batch: 32, rounds: 1 },
};

const KEYS = 100;
const LIMIT = 10;

/**
 * @param {{ setup: keyof typeof setups, pgUrl: string, tasks?: number, claimers?: number,
 *   batch?: number, rounds?: number }} opts
 */
export async function run(opts) {
  const setup = setups[opts.setup];
  if (!setup) throw new Error(`unknown flow setup ${opts.setup}`);
  const size = {
    tasks: opts.tasks ?? workload.size.tasks,
    claimers: opts.claimers ?? workload.size.claimers,
    batch: opts.batch ?? workload.size.batch,
  };
  const rounds = opts.rounds ?? workload.size.rounds;
  const dialect = setup.backend === 'postgres' ? 'postgres' : 'sqlite';
  /** @type {{ unkeyed: number, keyed: number, ratio: number, mostRunning: number }[]} */
  const samples = [];
  for (let r = 0; r < rounds; r++) {
    const plain = await drain(dialect, false, size, opts.pgUrl);
    const keyed = await drain(dialect, true, size, opts.pgUrl);
    samples.push({
      unkeyed: plain.perSec,
      keyed: keyed.perSec,
      ratio: keyed.perSec / plain.perSec,
      mostRunning: keyed.mostRunning,
    });
  }
  const median = (/** @type {number[]} */ values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = sorted.length / 2;
    return sorted.length % 2 ? sorted[Math.floor(mid)] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  return {
    ...size,
    keys: KEYS,
    limit: LIMIT,
    rounds,
    unkeyedPerSec: Math.round(median(samples.map((s) => s.unkeyed))),
    keyedPerSec: Math.round(median(samples.map((s) => s.keyed))),
    ratio: Math.round(median(samples.map((s) => s.ratio)) * 100) / 100,
    // Most tasks of one key seen RUNNING after a claim, in any round: never above LIMIT.
    mostRunning: Math.max(...samples.map((s) => s.mostRunning)),
    samples,
  };
}

/** @param {object[]} rows  the (j) rows of run.mjs */
export function printFlowRows(rows) {
  if (rows.length === 0) return;
  const first = /** @type {any} */ (rows[0]);
  console.log(
    `\n(${workload.letter}) ${workload.title}: ${first.tasks ?? '?'} tasks, ${first.claimers ?? '?'} claimers, batches of ${first.batch ?? '?'}, ${first.rounds ?? '?'} alternating rounds; medians (target: keyed ≥ 0.7× unkeyed)`,
  );
  console.log('  setup    unkeyed tasks/s   keyed tasks/s   keyed / unkeyed   most running per key   status');
  for (const r of /** @type {any[]} */ (rows))
    console.log(
      `  ${String(r.setup).padEnd(8)} ${String(r.unkeyedPerSec ?? '—').padStart(15)}   ${String(r.keyedPerSec ?? '—').padStart(13)}   ${String(r.ratio ?? '—').padStart(15)}   ${String(r.mostRunning ?? '—').padStart(20)}   ${r.status}`,
    );
  for (const r of /** @type {any[]} */ (rows)) console.log(`  ${r.setup}: ${r.description}`);
}

/**
 * A fresh database for one drain: a SQLite file, or a PostgreSQL database created through
 * `pgUrl`'s server and dropped afterwards.
 * @param {'sqlite' | 'postgres'} dialect  @param {string} tag  @param {string} pgUrl
 */
async function freshDatabase(dialect, tag, pgUrl) {
  if (dialect === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-flow-'));
    return {
      url: `sqlite:${path.join(dir, 'swarm.db')}`,
      drop: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  }
  const name = `swarm_flow_${process.pid}_${tag}`;
  const admin = async (/** @type {string} */ text) => {
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(pgUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/**
 * Tasks drained per second, and the most tasks of one key seen running after any claim.
 * @param {'sqlite' | 'postgres'} dialect  @param {boolean} keyed
 * @param {{ tasks: number, claimers: number, batch: number }} size  @param {string} pgUrl
 */
async function drain(dialect, keyed, { tasks: TASKS, claimers: CLAIMERS, batch: BATCH }, pgUrl) {
  const { Store } = await import('../dist/storage/index.js');
  const { claimTasks, completeTasks, enqueueTasks, flowKey } = await import('../dist/queue/index.js');
  const { url, drop } = await freshDatabase(dialect, keyed ? 'keyed' : 'plain', pgUrl);
  const store = await Store.open(url);
  try {
    const user = await store.system.insertUserIfAbsent({
      name: 'bench',
      email: 'bench@example.com',
      role: 'member',
    });
    const ownerId = user.id;
    const keys = Array.from({ length: KEYS }, (_, k) => ({
      key: flowKey('concurrency', 'owner', { ownerId }, `k${k}`),
      scope: 'owner',
      maxRunning: LIMIT,
    }));
    for (let offset = 0; offset < TASKS; offset += 1000) {
      const batch = Array.from({ length: Math.min(1000, TASKS - offset) }, (_, i) => ({
        ownerId,
        taskType: 'bench',
        input: {},
        ...(keyed ? { flow: [keys[(offset + i) % KEYS]] } : {}),
      }));
      await enqueueTasks(store.handle.db, store.handle.dialect, batch);
    }
    let done = 0;
    let claims = 0;
    /** Tasks claimed and not yet completed, per key (this process holds every claimer). */
    const running = new Map();
    let mostRunning = 0;
    const started = performance.now();
    const claimer = async (/** @type {number} */ n) => {
      let idle = 0;
      while (done < TASKS && idle < 1000) {
        const got = await claimTasks(store.handle, { workerId: `bench-${n}`, limit: BATCH, leaseMs: 60_000 });
        claims++;
        if (got.length === 0) {
          idle++;
          await new Promise((resolve) => setImmediate(resolve));
          continue;
        }
        idle = 0;
        for (const task of got) {
          const now = (running.get(task.concurrencyKey) ?? 0) + 1;
          running.set(task.concurrencyKey, now);
          if (task.concurrencyKey !== null) mostRunning = Math.max(mostRunning, now);
        }
        await completeTasks(
          store.handle,
          got.map((task) => ({ id: task.id, leaseEpoch: task.leaseEpoch, output: null })),
        );
        for (const task of got) running.set(task.concurrencyKey, running.get(task.concurrencyKey) - 1);
        done += got.length;
      }
    };
    await Promise.all(Array.from({ length: CLAIMERS }, (_, n) => claimer(n)));
    const seconds = (performance.now() - started) / 1000;
    if (done !== TASKS) throw new Error(`${dialect}: drained ${done} of ${TASKS}`);
    if (mostRunning > LIMIT) throw new Error(`${dialect}: ${mostRunning} tasks of one key ran at once`);
    return { perSec: TASKS / seconds, claims, mostRunning };
  } finally {
    await store.close();
    await drop();
  }
}

// On its own: node bench/flow.mjs [--tasks N] [--claimers N] [--batch N] [--rounds N] [--dialect D]
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values: args } = parseFlags(import.meta.url, {
    options: {
      tasks: { type: 'string', default: String(workload.size.tasks) },
      claimers: { type: 'string', default: String(workload.size.claimers) },
      batch: { type: 'string', default: String(workload.size.batch) },
      rounds: { type: 'string', default: '1' },
      dialect: { type: 'string', default: 'both' },
      pg: {
        type: 'string',
        default: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
      },
    },
  });
  const numbers = { tasks: 0, claimers: 0, batch: 0, rounds: 0 };
  for (const flag of /** @type {(keyof typeof numbers)[]} */ (Object.keys(numbers)))
    numbers[flag] = integerFlag(import.meta.url, flag, args[flag]);
  if (!['both', 'sqlite', 'postgres'].includes(args.dialect))
    usageError(import.meta.url, `--dialect must be sqlite, postgres or both, got "${args.dialect}"`);
  const rows = [];
  for (const dialect of args.dialect === 'both' ? ['sqlite', 'postgres'] : [args.dialect]) {
    const setup = dialect === 'postgres' ? 'pg' : 'sqlite';
    const result = await run({ setup, pgUrl: args.pg, ...numbers });
    rows.push({ setup, description: setups[setup].description, status: 'ok', ...result });
  }
  printFlowRows(rows);
}
