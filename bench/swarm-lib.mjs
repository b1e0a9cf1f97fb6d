// What every Swarm row shares: opening the store, and workers — one in this process, or N worker
// processes (swarm-worker.mjs) — that run the real builtin runtime and tell when a handler starts.
// Runs the built code (dist/), as `npm start` does: `npm install` builds it, `npm run build` rebuilds it.
import { fork } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Store } from '../dist/storage/index.js';
import { Engine } from '../dist/engine/index.js';
import { Worker } from '../dist/worker/index.js';
import { BuiltinRuntime, DatabaseEventSink } from '../dist/runtimes/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one
 * machine: each process's time origin is read from the system clock when it starts, and
 * performance.now() counts from there on a monotonic clock. (Date.now() would only give ms.)
 */
export const epochNow = () => performance.timeOrigin + performance.now();

/** The worker settings of every Swarm row (per process): what the README's table describes. */
export const WORKER_SETTINGS = { concurrency: 512, leaseMs: 30_000, pollMs: 250 };

/**
 * The store of one row: a SQLite file in the row's fresh tmpDir (WAL, synchronous=NORMAL, the
 * setting a busy single-node install would pick) or the row's fresh PostgreSQL database.
 * @param {{ sqlite: boolean, pgUrl: string, tmpDir: string }} where
 */
export function storeUrl({ sqlite, pgUrl, tmpDir }) {
  return sqlite ? `sqlite:${path.join(tmpDir, 'swarm.db')}?synchronous=normal` : pgUrl;
}

/**
 * @param {string} url
 * @param {{ migrate?: boolean, poolSize?: number }} [options]
 */
export async function openStore(url, options = {}) {
  return Store.open(url, { poolSize: options.poolSize ?? 10, migrate: options.migrate ?? true });
}

/**
 * Workload (a)'s tasks: `count` standalone builtin/noop tasks of `ownerId`, inputs
 * `{ i: offset + k }`, no retries — what enqueueTasks takes.
 * @param {string} ownerId
 * @param {number} offset
 * @param {number} count
 */
export function noopTasks(ownerId, offset, count) {
  return Array.from({ length: count }, (_, k) => ({
    ownerId,
    taskType: 'noop',
    agentName: 'builtin/noop',
    agentVersion: '1.0.0',
    input: { i: offset + k },
    maxRetries: 0,
  }));
}

/** @param {import('../dist/storage/index.js').Store} store */
export async function benchUser(store) {
  const user = await store.system.insertUserIfAbsent({
    name: 'bench',
    email: 'bench@example.com',
    role: 'admin',
  });
  if (!user) throw new Error('could not create the bench user');
  return { id: user.id, caller: { userId: user.id, role: user.role } };
}

/**
 * Swarm's Worker as createWorker (src/worker/create.ts) builds it — the real BuiltinRuntime and
 * event sink — except that the runtime is wrapped to note when each handler starts:
 * `onStart(at, input)` is called with epochNow() just before the builtin agent runs.
 * @param {import('../dist/storage/index.js').Store} store
 * @param {{ onStart?: (at: number, input: unknown) => void, concurrency?: number, pollMs?: number, leaseMs?: number }} [options]
 */
export function benchWorker(store, options = {}) {
  const builtin = new BuiltinRuntime({
    http: { allowPrivateNetworks: false, timeoutMs: 30_000, maxResponseBytes: 5 * 1024 * 1024 },
  });
  const onStart = options.onStart ?? (() => {});
  return new Worker({
    store,
    engine: new Engine(store),
    runtime: {
      execute: (/** @type {any} */ invocation, /** @type {any} */ context) => {
        onStart(epochNow(), invocation.input);
        return builtin.execute(invocation, context);
      },
    },
    events: new DatabaseEventSink(store),
    logger: pino({ level: 'error' }),
    concurrency: options.concurrency ?? WORKER_SETTINGS.concurrency,
    leaseMs: options.leaseMs ?? WORKER_SETTINGS.leaseMs,
    pollMs: options.pollMs ?? WORKER_SETTINGS.pollMs,
  });
}

/**
 * Starts `count` worker processes on `url` (swarm-worker.mjs), each with its own store, Engine and
 * Worker, and resolves once every one is ready: opened, and — unless `hold` — started and
 * listening for new-task notifications. With `hold`, they wait for `go()` so that a backlog is
 * drained by all of them from the same moment.
 * @param {number} count
 * @param {string} url
 * @param {{ hold?: boolean, execArgv?: string[], onStart?: (at: number, sample: number | null) => void, reportEach?: boolean }} [options]
 *   reportEach: send every handler start that carries a `sample` in its input (workload d);
 *   otherwise only each process's first handler start is reported.
 */
export async function forkWorkers(count, url, options = {}) {
  /** @type {number[]} */
  const firstStarts = [];
  const children = Array.from({ length: count }, (_, i) => {
    const settings = { url, hold: options.hold ?? false, reportEach: options.reportEach ?? false };
    const child = fork(
      path.join(here, 'swarm-worker.mjs'),
      [JSON.stringify({ ...WORKER_SETTINGS, ...settings })],
      {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        // --profile: <row>.cpuprofile becomes <row>-worker<i>.cpuprofile for worker process i.
        execArgv: (options.execArgv ?? []).map((a) => a.replace(/\.cpuprofile$/, `-worker${i}.cpuprofile`)),
      },
    );
    const ready = deferred();
    const listening = deferred();
    /** @type {{ promise: Promise<{ rssMb: number, handled: number }>, resolve: (v: any) => void, reject: (e: Error) => void }} */
    const done = deferred();
    done.promise.catch(() => {}); // awaited in stop(); an early death is reported through ready
    child.on('message', (/** @type {any} */ msg) => {
      if (msg.type === 'ready') ready.resolve(undefined);
      else if (msg.type === 'listening') listening.resolve(undefined);
      else if (msg.type === 'first') firstStarts.push(msg.at);
      else if (msg.type === 'start') options.onStart?.(msg.at, msg.sample ?? null);
      else if (msg.type === 'done') done.resolve({ rssMb: msg.rssMb, handled: msg.handled });
      else if (msg.type === 'error') {
        ready.reject(new Error(`worker process ${i}: ${msg.message}`));
        done.reject(new Error(`worker process ${i}: ${msg.message}`));
      }
    });
    child.on('exit', (code, signal) => {
      const err = new Error(`worker process ${i} exited (${signal ?? `exit ${code}`})`);
      ready.reject(err);
      listening.reject(err);
      done.reject(err);
    });
    listening.promise.catch(() => {}); // only awaited by go()
    return { child, ready: ready.promise, listening: listening.promise, done: done.promise };
  });
  try {
    await Promise.all(children.map((c) => c.ready));
  } catch (error) {
    for (const { child } of children) if (child.exitCode === null) child.kill('SIGKILL');
    throw error;
  }
  return {
    /** The earliest first handler start of any process (epoch ms), or 0 while none has started. */
    firstStartAt: () => (firstStarts.length === 0 ? 0 : Math.min(...firstStarts)),
    /** Starts held workers; resolves once every one of them listens. */
    async go() {
      for (const { child } of children) child.send({ type: 'go' });
      await Promise.all(children.map((c) => c.listening));
    },
    /** Stops every worker (1 s grace), and returns each process's peak RSS in MB and tasks run. */
    async stop() {
      for (const { child } of children) child.send({ type: 'stop' });
      const done = await Promise.all(children.map((c) => c.done));
      return { rssMb: done.map((d) => d.rssMb), handled: done.map((d) => d.handled) };
    },
  };
}

/** A promise with its resolve and reject at hand (Promise.withResolvers is Node 22+). */
function deferred() {
  /** @type {(v: any) => void} */
  let resolve = () => {};
  /** @type {(e: Error) => void} */
  let reject = () => {};
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Polls `count` until it reaches `target` and returns epochNow() of the poll that saw it. For
 * waits that overlap the work being timed: every 100 ms while more than 5% is left (a count over
 * the queue every 5 ms would take a noticeable share of 2 cores), then every 5 ms.
 * @param {() => Promise<number>} count
 * @param {number} target
 */
export async function waitForCount(count, target) {
  for (;;) {
    const n = await count();
    if (n >= target) return epochNow();
    await sleep(target - n > target * 0.05 ? 100 : 5);
  }
}

/** This process's peak RSS in MB (maxRSS is in kB). */
export const ownRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

/**
 * Nearest-rank percentile of a list of numbers, rounded to 0.1.
 * @param {number[]} values
 * @param {number} p  0–100
 */
export function percentile(values, p) {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round(/** @type {number} */ (sorted[rank]) * 10) / 10;
}
