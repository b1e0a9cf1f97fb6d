// One run with a huge for_each, released in a completion batch (the path that overflowed the
// stack at ~125,000 items), on SQLite and/or PostgreSQL, with a worker in this process:
//
//   gate  (builtin/noop)
//   fan   (builtin/noop)       for_each: trigger.items             <- N tasks, enqueued in the
//                                                                     transaction completing `gate`
//   join  (builtin/transform)  { count: $count(steps.fan.output) } <- the fan-in reads N outputs
//
// Prints, per dialect: how long the completion hook took that released the fan-out (planning
// and enqueueing N tasks) and the one that gathered it in (reading N outputs), the whole run,
// items/s, and the process's peak RSS (getrusage maxrss, or the highest sampled RSS).
//
//   node bench/fanout-million.mjs                              # 1,000,000 items, both dialects
//   node bench/fanout-million.mjs --items 200000 --dialect sqlite --concurrency 256
//   node bench/fanout-million.mjs --pg postgres://postgres@127.0.0.1:5432/test
//
// Runs the built code (dist/): `npm run build` after changing src/. Each dialect runs in its own
// process so peak RSS is that dialect's alone.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { parseFlags } from './flags.mjs';

const here = fileURLToPath(import.meta.url);

const { values: args } = parseFlags(import.meta.url, {
  options: {
    items: { type: 'string', default: '1000000' },
    dialect: { type: 'string', default: 'both' },
    concurrency: { type: 'string', default: '512' },
    pg: {
      type: 'string',
      default: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
    child: { type: 'string' },
  },
});

if (args.child !== undefined) await child(JSON.parse(args.child));
else await parent();

async function parent() {
  const items = Number(args.items);
  const dialects = args.dialect === 'both' ? ['sqlite', 'postgres'] : [args.dialect];
  for (const dialect of dialects) {
    const { url, drop } = await freshDatabase(dialect);
    try {
      const result = await new Promise((resolve, reject) => {
        const proc = fork(
          here,
          ['--child', JSON.stringify({ url, items, concurrency: Number(args.concurrency) })],
          {
            execArgv: ['--max-old-space-size=4096'],
          },
        );
        proc.on('message', (msg) =>
          msg.type === 'progress' ? console.log(`  ${dialect}: ${msg.text}`) : resolve(msg),
        );
        proc.on(
          'exit',
          (code) => code !== 0 && reject(new Error(`${dialect}: the run's process exited ${code}`)),
        );
      });
      console.log(`${dialect}: ${JSON.stringify(result)}`);
    } finally {
      await drop();
    }
  }
}

async function freshDatabase(dialect) {
  if (dialect === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-fanout-'));
    return {
      url: `sqlite:${path.join(dir, 'swarm.db')}`,
      drop: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  }
  const name = `swarm_fanout_${process.pid}`;
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

async function child({ url, items, concurrency }) {
  const { default: pino } = await import('pino');
  const { Store } = await import('../dist/storage/index.js');
  const { Engine } = await import('../dist/engine/index.js');
  const { Registry } = await import('../dist/registry/index.js');
  const { loadConfig } = await import('../dist/config/index.js');
  const { createWorker } = await import('../dist/worker/index.js');
  const progress = (text) => process.send({ type: 'progress', text });

  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100);
  const store = await Store.open(url);
  const user = await store.system.insertUserIfAbsent({
    name: 'fanout',
    email: 'fanout@example.com',
    role: 'admin',
  });
  const caller = { userId: user.id, role: user.role };
  const registry = new Registry(store).as(caller);
  const engine = new Engine(store, { maxFanOut: items });
  const config = loadConfig({ DATABASE_URL: url, SWARM_HOME: os.tmpdir(), SWARM_MAX_FAN_OUT: String(items) });
  const worker = createWorker(store, engine, config, pino({ level: 'error' }), { concurrency });
  const { workflow } = await registry.workflows.apply({
    name: 'fanout-million',
    version: '1.0.0',
    steps: [
      { id: 'gate', agent: 'builtin/noop' },
      { id: 'fan', agent: 'builtin/noop', needs: ['gate'], for_each: 'trigger.items' },
      {
        id: 'join',
        agent: 'builtin/transform',
        needs: ['fan'],
        input: { count: '{{ $count(steps.fan.output) }}' },
      },
    ],
  });
  // How long the completion hooks take that release the fan-out (with `gate`) and gather it in
  // (the one that completes `fan`): timed around the engine's hook, which the worker calls.
  const hook = engine.onTasksCompleted;
  let releaseMs = null;
  let fanInMs = null;
  engine.onTasksCompleted = async (trx, tasks, prepared) => {
    const started = performance.now();
    await hook(trx, tasks, prepared);
    if (tasks.some((task) => task.stepId === 'gate')) releaseMs = performance.now() - started;
    else if (tasks.some((task) => task.stepId === 'fan')) fanInMs = performance.now() - started;
  };
  const input = { items: Array.from({ length: items }, (_, i) => i) };
  worker.start();
  const t0 = performance.now();
  const id = await engine.startRun(caller, workflow, registry.agents, { input });
  progress(`run started in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  let seenRunning = false;
  let lastReport = t0;
  let row;
  for (;;) {
    try {
      row = await store.handle.db
        .selectFrom('workflow_runs')
        .select(['status', 'step_results', 'result'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
    } catch (error) {
      // The pool may be busy for a while (the release is one long transaction): look again.
      progress(`polling the run failed (${error.message}); trying again`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    const steps = typeof row.step_results === 'string' ? JSON.parse(row.step_results) : row.step_results;
    if (!seenRunning && steps.fan.status !== 'pending') {
      seenRunning = true;
      progress(`fan-out released (${(releaseMs / 1000).toFixed(1)} s in the completion hook)`);
    }
    if (row.status !== 'running') break;
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      const done = steps.fan.items?.done ?? 0;
      progress(
        `${done} of ${items} items done after ${((lastReport - t0) / 1000).toFixed(0)} s, rss ${mb(process.memoryUsage.rss())} MB`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const total = performance.now() - t0;
  await worker.stop(1000);
  await store.close();
  clearInterval(sampler);
  const result = typeof row.result === 'string' ? JSON.parse(row.result) : row.result;
  process.send({
    type: 'result',
    items,
    status: row.status,
    count: result?.join?.count ?? null,
    releaseHookSeconds: releaseMs === null ? null : Math.round(releaseMs) / 1000,
    lastFanHookSeconds: fanInMs === null ? null : Math.round(fanInMs) / 1000,
    runSeconds: Math.round(total) / 1000,
    itemsPerSecond: Math.round(items / (total / 1000)),
    peakRssMb: mb(Math.max(peakRss, process.resourceUsage().maxRSS * 1024)),
  });
  process.exit(row.status === 'completed' && result?.join?.count === items ? 0 : 1);
}

function mb(bytes) {
  return Math.round(bytes / 1024 / 1024);
}
