// Swarm's engine workloads (b)–(d), each row in its own process (child.mjs) on a fresh store:
//   linear   (b) N runs of a 3-step chain of builtin/noop: steps/s and trigger-to-completion latency
//   fanout   (c) one run whose first step is a for_each over N items (builtin/noop), then a fan-in step
//   latency  (d) enqueue-to-start latency of single tasks on an idle worker
// on SQLite with the worker in this process, and on PostgreSQL with the worker in this process or
// in 4 worker processes (swarm-worker.mjs). See bench/README.md for exactly what is timed.
import { setTimeout as sleep } from 'node:timers/promises';
import { enqueueTasks } from '../dist/queue/index.js';
import { Engine } from '../dist/engine/index.js';
import { Registry } from '../dist/registry/index.js';
import { perSecond } from './lib.mjs';
import {
  benchUser,
  benchWorker,
  epochNow,
  forkWorkers,
  openStore,
  percentile,
  storeUrl,
  waitForCount,
  WORKER_SETTINGS,
} from './swarm-lib.mjs';

/** Where the work runs. Row order = this order. */
export const setups = {
  sqlite: {
    description:
      'SQLite file (WAL, synchronous=NORMAL), worker in the same process, woken by the in-process signal of the store',
    backend: 'none',
    workers: 0,
  },
  'pg-1p': {
    description: 'PostgreSQL, worker in the same process, woken by LISTEN/NOTIFY',
    backend: 'postgres',
    workers: 0,
  },
  'pg-4p': {
    description:
      'PostgreSQL, 4 worker processes woken by LISTEN/NOTIFY; this process starts runs and watches',
    backend: 'postgres',
    workers: 4,
  },
};

/** What each workload does, and its sizes: full run, --quick. */
export const workloads = {
  linear: {
    letter: 'b',
    title: '3-step linear workflow (builtin/noop → noop → noop)',
    size: { runs: 2000, idleRuns: 100 },
    quick: { runs: 150, idleRuns: 10 },
  },
  fanout: {
    letter: 'c',
    title: 'one run: for_each over N items (builtin/noop), then a fan-in step (builtin/transform)',
    size: { items: 10_000 },
    quick: { items: 1000 },
  },
  latency: {
    letter: 'd',
    title: 'enqueue-to-start latency of one task at a time on an idle worker',
    size: { samples: 200 },
    quick: { samples: 30 },
  },
};

/** (b): concurrent engine.startRun callers (an API server takes requests in parallel). */
const PRODUCERS = 4;
/** Latency samples not counted: the first tasks warm up the JIT, the agent cache and the connections. */
const WARMUP = 5;

/**
 * @param {{ workload: keyof typeof workloads, setup: keyof typeof setups, pgUrl: string, tmpDir: string,
 *   runs?: number, idleRuns?: number, items?: number, samples?: number, execArgv?: string[],
 *   progress: (p: object) => void }} opts
 */
export async function run(opts) {
  const setup = setups[opts.setup];
  if (!setup) throw new Error(`unknown engine setup ${opts.setup}`);
  const sqlite = setup.backend === 'none';
  const url = storeUrl({ sqlite, pgUrl: opts.pgUrl, tmpDir: opts.tmpDir });
  const store = await openStore(url);
  const user = await benchUser(store);
  // --items past SWARM_MAX_FAN_OUT's default: the engine that starts the run allows them.
  const engine = new Engine(store, { maxFanOut: Math.max(100_000, opts.items ?? 0) });
  const ctx = { store, user, engine, registry: new Registry(store).as(user.caller) };

  // Handler starts of tagged tasks (workload d), from this process's worker or the worker processes.
  /** @type {Map<number, (at: number) => void>} */
  const waiting = new Map();
  const started = (/** @type {number} */ at, /** @type {unknown} */ sample) => {
    if (typeof sample === 'number') waiting.get(sample)?.(at);
  };

  // The linear workload starts its runs before the workers start (see linear()); the others
  // start with the workers already waiting.
  const hold = opts.workload === 'linear';
  /** @type {Workers} */
  let workers;
  if (setup.workers === 0) {
    let firstStart = 0;
    const worker = benchWorker(store, {
      onStart: (at, input) => {
        if (firstStart === 0) firstStart = at;
        started(at, /** @type {any} */ (input)?.sample);
      },
    });
    const go = async () => {
      worker.start();
      await worker.listening();
    };
    if (!hold) await go();
    workers = {
      go,
      firstStartAt: () => firstStart,
      stop: async () => {
        await worker.stop(1000);
        return [];
      },
    };
  } else {
    const forked = await forkWorkers(setup.workers, url, {
      hold,
      execArgv: opts.execArgv,
      reportEach: opts.workload === 'latency',
      onStart: started,
    });
    workers = {
      go: () => forked.go(),
      firstStartAt: forked.firstStartAt,
      stop: async () => (await forked.stop()).rssMb,
    };
  }

  let result;
  try {
    if (opts.workload === 'linear') result = await linear(ctx, workers, opts);
    else if (opts.workload === 'fanout') result = await fanout(ctx, opts);
    else if (opts.workload === 'latency') result = await latency(ctx, waiting, opts);
    else throw new Error(`unknown engine workload ${opts.workload}`);
  } finally {
    const rss = await workers.stop();
    if (rss.length > 0) result = { ...result, workerRssMb: Math.max(...rss), workerRssMbEach: rss };
  }
  await store.close();
  return result;
}

/**
 * @typedef {{ go: () => Promise<void>, firstStartAt: () => number, stop: () => Promise<number[]> }} Workers
 *   go: start held workers (resolves once they listen); firstStartAt: the first handler start (epoch ms)
 * @typedef {{ store: import('../dist/storage/index.js').Store, user: { id: string, caller: any },
 *   engine: import('../dist/engine/index.js').Engine, registry: ReturnType<Registry['as']> }} Ctx
 */

/**
 * (b) N runs started with the workers held, then drained (steps/s); then runs one at a time on the
 * idle workers (trigger-to-completion latency).
 * @param {Ctx} ctx
 * @param {Workers} workers
 * @param {{ runs?: number, idleRuns?: number, progress: (p: object) => void }} opts
 */
async function linear({ store, user, engine, registry }, workers, opts) {
  const runs = opts.runs ?? workloads.linear.size.runs;
  const idleRuns = opts.idleRuns ?? workloads.linear.size.idleRuns;
  const { workflow } = await registry.workflows.apply({
    name: 'bench-linear',
    version: '1.0.0',
    steps: [
      { id: 'a', agent: 'builtin/noop' },
      { id: 'b', agent: 'builtin/noop', needs: ['a'] },
      { id: 'c', agent: 'builtin/noop', needs: ['b'] },
    ],
  });
  const { db } = store.handle;
  const countRuns = async (/** @type {string} */ status) =>
    Number(
      (
        await db
          .selectFrom('workflow_runs')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('status', '=', status)
          .executeTakeFirstOrThrow()
      ).n,
    );

  // 1. Start N runs — PRODUCERS callers of engine.startRun back to back, as an API server taking
  //    requests in parallel would — while the workers are held, so that the next figure measures
  //    the engine advancing steps and not how fast runs can be started (which is this one).
  const t0 = epochNow();
  let next = 0;
  await Promise.all(
    Array.from({ length: PRODUCERS }, async () => {
      while (next < runs) {
        next++;
        await engine.startRun(user.caller, workflow, registry.agents, { input: { i: next } });
      }
    }),
  );
  const startRunsPerSec = perSecond(runs, epochNow() - t0);
  opts.progress({ startRunsPerSec });

  // 2. Release the workers on the N step-a tasks. steps/s = 3N / (first handler start → the store
  //    shows every run completed).
  await workers.go();
  const doneAt = await waitForCount(() => countRuns('completed'), runs);
  const stepsPerSec = perSecond(3 * runs, doneAt - workers.firstStartAt());
  const failed = await countRuns('failed');
  if (failed > 0) throw new Error(`${failed} linear runs failed`);
  opts.progress({ startRunsPerSec, stepsPerSec });

  // 3. One run at a time on idle workers: pause 5–25 ms, start a run, wait until it is completed.
  //    Trigger → completion from the run row: started_at is set by startRun just before its
  //    transaction, completed_at by the transaction that completes step c (ISO, 1 ms resolution).
  const idleIds = [];
  for (let i = 0; i < idleRuns; i++) {
    await sleep(5 + Math.random() * 20);
    const id = await engine.startRun(user.caller, workflow, registry.agents, { input: { idle: i } });
    idleIds.push(id);
    for (;;) {
      const row = await db
        .selectFrom('workflow_runs')
        .select('status')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      if (row.status === 'completed') break;
      if (row.status !== 'running') throw new Error(`run ${id} ended ${row.status}`);
      await sleep(1);
    }
  }
  const latencies = await runLatencies(db, idleIds);
  return {
    runs,
    steps: 3 * runs,
    stepsPerSec,
    startRunsPerSec,
    idleRuns,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: percentile(latencies, 100),
    details: { latencyMs: latencies },
  };
}

/**
 * completed_at − started_at of the given completed runs, in ms.
 * @param {import('kysely').Kysely<any>} db
 * @param {string[]} ids
 */
async function runLatencies(db, ids) {
  const rows = await db
    .selectFrom('workflow_runs')
    .select(['started_at', 'completed_at'])
    .where('status', '=', 'completed')
    .where('id', 'in', ids)
    .execute();
  return rows.map((r) => Date.parse(r.completed_at) - Date.parse(r.started_at));
}

/**
 * (c) One run: startRun (which creates the N item tasks in its transaction) → run completed.
 * @param {Ctx} ctx
 * @param {{ items?: number, progress: (p: object) => void }} opts
 */
async function fanout({ store, user, engine, registry }, opts) {
  const items = opts.items ?? workloads.fanout.size.items;
  const { workflow } = await registry.workflows.apply({
    name: 'bench-fanout',
    version: '1.0.0',
    steps: [
      { id: 'fan', agent: 'builtin/noop', for_each: 'trigger.items', input: { item: '{{ item }}' } },
      {
        id: 'join',
        agent: 'builtin/transform',
        needs: ['fan'],
        input: { count: '{{ $count(steps.fan.output) }}' },
      },
    ],
  });
  const input = { items: Array.from({ length: items }, (_, i) => i) };
  const { db } = store.handle;
  const t0 = epochNow();
  const id = await engine.startRun(user.caller, workflow, registry.agents, { input });
  const startRunMs = epochNow() - t0;
  opts.progress({ startRunMs: Math.round(startRunMs) });
  let row;
  for (;;) {
    row = await db
      .selectFrom('workflow_runs')
      .select(['status', 'result', 'started_at', 'completed_at'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    if (row.status !== 'running') break;
    await sleep(5);
  }
  const doneAt = epochNow();
  if (row.status !== 'completed') throw new Error(`fan-out run ended ${row.status}`);
  const result = typeof row.result === 'string' ? JSON.parse(row.result) : row.result;
  if (result?.join?.count !== items) throw new Error(`fan-in saw ${result?.join?.count} of ${items} items`);
  return {
    items,
    runSeconds: Math.round(doneAt - t0) / 1000,
    itemsPerSec: perSecond(items, doneAt - t0),
    startRunMs: Math.round(startRunMs),
    // The same span from the run row (ms resolution), as a cross-check of the poll.
    rowSeconds: (Date.parse(row.completed_at) - Date.parse(row.started_at)) / 1000,
  };
}

/**
 * (d) One standalone builtin/noop task at a time, on an idle worker: pause 10–50 ms (the worker is
 * asleep on its 250 ms poll timer, the queue empty), enqueue, wait for its handler to start.
 * @param {Ctx} ctx
 * @param {Map<number, (at: number) => void>} waiting
 * @param {{ samples?: number, progress: (p: object) => void }} opts
 */
async function latency({ store, user }, waiting, opts) {
  const samples = opts.samples ?? workloads.latency.size.samples;
  const { db, dialect } = store.handle;
  /** @type {number[]} */
  const fromCommit = [];
  /** @type {number[]} */
  const fromCall = [];
  for (let i = 0; i < samples + WARMUP; i++) {
    await sleep(10 + Math.random() * 40);
    /** @type {Promise<number>} */
    const handlerStart = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sample ${i}: no handler start within 10 s`)), 10_000);
      waiting.set(i, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
    const called = epochNow();
    await enqueueTasks(db, dialect, [
      {
        ownerId: user.id,
        taskType: 'noop',
        agentName: 'builtin/noop',
        agentVersion: '1.0.0',
        input: { sample: i },
        maxRetries: 0,
      },
    ]);
    const committed = epochNow();
    const at = await handlerStart;
    waiting.delete(i);
    if (i < WARMUP) continue;
    fromCommit.push(at - committed);
    fromCall.push(at - called);
  }
  const round = (/** @type {number[]} */ xs) => xs.map((x) => Math.round(x * 100) / 100);
  return {
    samples,
    p50Ms: percentile(fromCommit, 50),
    p99Ms: percentile(fromCommit, 99),
    maxMs: percentile(fromCommit, 100),
    callP50Ms: percentile(fromCall, 50),
    callP99Ms: percentile(fromCall, 99),
    details: { fromCommitMs: round(fromCommit), warmup: WARMUP, pollMs: WORKER_SETTINGS.pollMs },
  };
}
