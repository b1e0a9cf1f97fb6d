// Swarm's own queue, workload (a): bulk enqueue with enqueueTasks, then drain with Swarm's Worker
// (claims in batches under leases, batched completion) running the real builtin/noop agent —
// in this process, or in 4 worker processes (swarm-worker.mjs) while this one only enqueues and
// watches the database.
import { enqueueTasks } from '../../dist/queue/index.js';
import { analyze, handlerCounter, perSecond, timeEnqueue, waitUntil } from '../lib.mjs';
import {
  benchUser,
  benchWorker,
  forkWorkers,
  noopTasks,
  openStore,
  storeUrl,
  waitForCount,
  WORKER_SETTINGS,
} from '../swarm-lib.mjs';

/** @type {import('../run.mjs').SystemInfo} */
export const system = { name: 'swarm', backend: 'postgres', package: null, version: '0.1.0' };

const each = `concurrency ${WORKER_SETTINGS.concurrency} (claims in batches of up to ${WORKER_SETTINGS.concurrency}), lease 30 s, completions batched per event-loop turn`;
export const configs = {
  sqlite: {
    description: `SQLite file (WAL, synchronous=NORMAL), one in-process worker: ${each}`,
    backend: 'none',
    workers: 0,
  },
  'pg-1p': {
    description: `PostgreSQL, one in-process worker: ${each}`,
    workers: 0,
  },
  'pg-4p': {
    description: `PostgreSQL, 4 worker processes (this process enqueues), each: ${each}`,
    workers: 4,
  },
};

/** @param {import('../run.mjs').RunOptions} opts */
export async function run({ jobs, batchSize, config, pgUrl, tmpDir, progress, execArgv }) {
  const chosen = configs[/** @type {keyof typeof configs} */ (config)];
  if (!chosen) throw new Error(`unknown swarm config ${config}`);
  const sqlite = config === 'sqlite';
  const url = storeUrl({ sqlite, pgUrl, tmpDir });
  const store = await openStore(url, { poolSize: 8 });
  const user = await benchUser(store);
  const { db, dialect } = store.handle;

  const enqueuePerSec = await timeEnqueue(jobs, batchSize, (offset, count) =>
    enqueueTasks(db, dialect, noopTasks(user.id, offset, count)),
  );
  progress({ enqueuePerSec });
  if (!sqlite) await analyze(pgUrl);

  const completed = async () => {
    const row = await db
      .selectFrom('tasks')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('status', '=', 'COMPLETED')
      .executeTakeFirstOrThrow();
    return Number(row.n);
  };
  const allCompleted = async () => (await completed()) === jobs;

  if (chosen.workers === 0) {
    // The clock: first handler start → the store confirms the last completion (performance.now()).
    const counter = handlerCounter(jobs);
    const worker = benchWorker(store, { onStart: () => counter.hit() });
    worker.start();
    await counter.allHandled;
    const doneAt = await waitUntil(allCompleted);
    const processPerSec = perSecond(jobs, doneAt - counter.firstAt);
    await worker.stop(1000);
    await store.close();
    return { enqueuePerSec, processPerSec };
  }

  // Worker processes open the store and wait, held, until all are ready; then all start at once
  // on the backlog. The clock, in epoch ms shared by the processes: the earliest first handler
  // start in any process → this process sees every task COMPLETED in the store.
  const workers = await forkWorkers(chosen.workers, url, { hold: true, execArgv });
  void workers.go();
  // Polled while the workers run (every 100 ms, then every 5 ms over the last 5%).
  const doneAt = await waitForCount(completed, jobs);
  const processPerSec = perSecond(jobs, doneAt - workers.firstStartAt());
  const { rssMb, handled } = await workers.stop();
  await store.close();
  return {
    enqueuePerSec,
    processPerSec,
    workerRssMb: Math.max(...rssMb),
    details: { workerProcesses: chosen.workers, handledPerProcess: handled, workerRssMbEach: rssMb },
  };
}
