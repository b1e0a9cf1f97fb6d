// graphile-worker 0.17 on PostgreSQL: bulk enqueue with addJobs, drain with run().
import pg from 'pg';
import { Logger, makeWorkerUtils, run as runWorker } from 'graphile-worker';
import { analyze, handlerCounter, payload, perSecond, timeEnqueue, waitUntil } from '../lib.mjs';

/** @type {import('../run.mjs').SystemInfo} */
export const system = { name: 'graphile-worker', backend: 'postgres', package: 'graphile-worker' };

/** Row order = this order. Each entry becomes one row of the table. */
export const configs = {
  // Nothing set: what `run({ taskList })` does out of the box.
  default: {
    description: 'library defaults: concurrentJobs 1, maxPoolSize 10, no local queue, unbatched completion',
    worker: {},
  },
  // The configuration of graphile-worker's own published performance figures
  // (worker.graphile.org/docs/performance): local queue 500, batched completion, 24 concurrent.
  fast: {
    description:
      'concurrentJobs 24, maxPoolSize 25, localQueue.size 500, completeJobBatchDelay 0, failJobBatchDelay 0',
    worker: {
      concurrentJobs: 24,
      maxPoolSize: 25,
      localQueue: { size: 500 },
      completeJobBatchDelay: 0,
      failJobBatchDelay: 0,
    },
  },
};

// Warnings and errors only: info lines per job start would dominate the run.
const logger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') console.error(`[graphile-worker] ${level}: ${message}`);
});

/** @param {import('../run.mjs').RunOptions} opts */
export async function run({ jobs, batchSize, config, pgUrl, progress }) {
  const chosen = configs[/** @type {keyof typeof configs} */ (config)];
  if (!chosen) throw new Error(`unknown graphile-worker config ${config}`);
  const preset = { worker: { connectionString: pgUrl, logger, ...chosen.worker } };

  // Migrations run before any timing starts.
  const utils = await makeWorkerUtils({ preset });
  await utils.migrate();

  const enqueuePerSec = await timeEnqueue(jobs, batchSize, (offset, count) =>
    utils.addJobs(
      Array.from({ length: count }, (_, k) => ({ identifier: 'noop', payload: payload(offset + k) })),
    ),
  );
  progress({ enqueuePerSec });
  await analyze(pgUrl);

  const counter = handlerCounter(jobs);
  const runner = await runWorker({
    preset,
    noHandleSignals: true,
    taskList: { noop: async () => counter.hit() },
  });
  await counter.allHandled;
  // graphile-worker deletes a job when it completes; with batched completion that is a
  // little after the handler returned. Done = the jobs table is empty.
  const check = new pg.Client({ connectionString: pgUrl });
  await check.connect();
  const doneAt = await waitUntil(async () => {
    const { rows } = await check.query('select count(*)::int as n from graphile_worker._private_jobs');
    return rows[0].n === 0;
  });
  const processPerSec = perSecond(jobs, doneAt - counter.firstAt);

  await runner.stop();
  await check.end();
  await utils.release();
  return { enqueuePerSec, processPerSec };
}
