// BullMQ on the local Redis: bulk enqueue with Queue.addBulk, drain with one Worker.
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { handlerCounter, payload, perSecond, timeEnqueue, waitUntil } from '../lib.mjs';

/** @type {import('../run.mjs').SystemInfo} */
export const system = { name: 'bullmq', backend: 'redis', package: 'bullmq' };

// BullMQ's default concurrency is 1 (one job in flight per Worker); a no-op drain is then
// bound by round trips. The tuned config runs many jobs in flight in the one Worker.
export const configs = {
  tuned: {
    description: 'one Worker, concurrency 50, completed jobs kept (BullMQ default)',
    concurrency: 50,
  },
};

const QUEUE = 'bench';

/** @param {import('../run.mjs').RunOptions} opts */
export async function run({ jobs, batchSize, config, redisUrl, progress }) {
  const chosen = configs[/** @type {keyof typeof configs} */ (config)];
  if (!chosen) throw new Error(`unknown bullmq config ${config}`);

  // Our own ioredis clients: ioredis is only an optional peer of BullMQ 6 (which can also run
  // on node-redis), and a Worker's blocking commands need maxRetriesPerRequest: null.
  const connect = () => new IORedis(redisUrl, { maxRetriesPerRequest: null });
  const queueConn = connect();
  const queue = new Queue(QUEUE, { connection: queueConn });
  await queue.waitUntilReady();

  const enqueuePerSec = await timeEnqueue(jobs, batchSize, (offset, count) =>
    queue.addBulk(Array.from({ length: count }, (_, k) => ({ name: 'noop', data: payload(offset + k) }))),
  );
  progress({ enqueuePerSec });

  const counter = handlerCounter(jobs);
  const workerConn = connect();
  const worker = new Worker(QUEUE, async () => counter.hit(), {
    connection: workerConn,
    concurrency: chosen.concurrency,
  });
  worker.on('error', (err) => console.error(`[bullmq] ${err.message}`));
  await counter.allHandled;
  // A job counts as completed once the Worker has moved it to the completed set.
  const doneAt = await waitUntil(async () => (await queue.getCompletedCount()) >= jobs);
  const processPerSec = perSecond(jobs, doneAt - counter.firstAt);

  await worker.close(true);
  await queue.close();
  queueConn.disconnect();
  workerConn.disconnect();
  return { enqueuePerSec, processPerSec };
}
