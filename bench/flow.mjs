// Flow control's cost in the claim (docs/flow-control.md): the same queue drained unkeyed, then
// with every task under one of 100 concurrency keys of limit 10, on SQLite and PostgreSQL.
// Claimers claim, complete at once (no-op work) and claim again, as a worker with instant
// tasks does; throughput is tasks / (first claim → last completion). Prints both and the ratio.
//
//   node bench/flow.mjs                       # 10,000 tasks, 4 claimers, both dialects
//   node bench/flow.mjs --tasks 50000 --claimers 8 --dialect postgres
//
// Runs the built code (dist/): `npm run build` after changing src/.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: '10000' },
    claimers: { type: 'string', default: '4' },
    batch: { type: 'string', default: '32' },
    dialect: { type: 'string', default: 'both' },
    pg: {
      type: 'string',
      default: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
  },
});
const TASKS = Number(args.tasks);
const CLAIMERS = Number(args.claimers);
const BATCH = Number(args.batch);
const KEYS = 100;
const LIMIT = 10;

const { Store } = await import('../dist/storage/index.js');
const { claimTasks, completeTasks, enqueueTasks, flowKey } = await import('../dist/queue/index.js');

async function freshDatabase(dialect, tag) {
  if (dialect === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-flow-'));
    return {
      url: `sqlite:${path.join(dir, 'swarm.db')}`,
      drop: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  }
  const name = `swarm_flow_${process.pid}_${tag}`;
  const admin = async (text) => {
    const client = new pg.Client({ connectionString: args.pg });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(args.pg);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** Tasks drained per second, and the most tasks of one key seen running after any claim. */
async function drain(dialect, keyed) {
  const { url, drop } = await freshDatabase(dialect, keyed ? 'keyed' : 'plain');
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
      const tasks = Array.from({ length: Math.min(1000, TASKS - offset) }, (_, i) => ({
        ownerId,
        taskType: 'bench',
        input: {},
        ...(keyed ? { flow: [keys[(offset + i) % KEYS]] } : {}),
      }));
      await enqueueTasks(store.handle.db, store.handle.dialect, tasks);
    }
    let done = 0;
    let claims = 0;
    const started = performance.now();
    const claimer = async (n) => {
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
        await completeTasks(
          store.handle,
          got.map((task) => ({ id: task.id, leaseEpoch: task.leaseEpoch, output: null })),
        );
        done += got.length;
      }
    };
    await Promise.all(Array.from({ length: CLAIMERS }, (_, n) => claimer(n)));
    const seconds = (performance.now() - started) / 1000;
    if (done !== TASKS) throw new Error(`${dialect}: drained ${done} of ${TASKS}`);
    return { perSec: TASKS / seconds, claims };
  } finally {
    await store.close();
    await drop();
  }
}

const dialects = args.dialect === 'both' ? ['sqlite', 'postgres'] : [args.dialect];
console.log(
  `flow control: ${TASKS} no-op tasks, ${CLAIMERS} claimers, batches of ${BATCH}; keyed: ${KEYS} keys, limit ${LIMIT}`,
);
console.log('dialect    unkeyed tasks/s  keyed tasks/s  keyed/unkeyed  claims (unkeyed, keyed)');
for (const dialect of dialects) {
  const plain = await drain(dialect, false);
  const keyed = await drain(dialect, true);
  console.log(
    `${dialect.padEnd(10)} ${plain.perSec.toFixed(0).padStart(15)}  ${keyed.perSec.toFixed(0).padStart(13)}  ${(keyed.perSec / plain.perSec).toFixed(2).padStart(13)}  ${plain.claims}, ${keyed.claims}`,
  );
}
