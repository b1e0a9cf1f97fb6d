// Swarm's own queue: bulk enqueue with enqueueTasks, drain with Swarm's Worker (claim in batches
// under leases, batched completion), the same no-op handler as every other row.
// Runs the built code (dist/), as `npm start` does: `npm install` builds it.
import path from 'node:path';
import pino from 'pino';
import { Store } from '../../dist/storage/index.js';
import { enqueueTasks } from '../../dist/queue/index.js';
import { Engine } from '../../dist/engine/index.js';
import { Worker } from '../../dist/worker/index.js';
import { analyze, handlerCounter, perSecond, timeEnqueue, waitUntil } from '../lib.mjs';

/** @type {import('../run.mjs').SystemInfo} */
export const system = { name: 'swarm', backend: 'postgres', package: null, version: '0.1.0' };

export const configs = {
  pg: {
    description:
      'PostgreSQL, one worker: concurrency 512 (claims in batches of up to 512), lease 30 s, completions batched per event-loop turn',
  },
  sqlite: {
    description: 'SQLite file (WAL, synchronous=NORMAL), one worker: concurrency 512',
    backend: 'none',
  },
};

/** @param {import('../run.mjs').RunOptions} opts */
export async function run({ jobs, batchSize, config, pgUrl, tmpDir, progress }) {
  const url = config === 'sqlite' ? `sqlite:${path.join(tmpDir, 'swarm.db')}?synchronous=normal` : pgUrl;
  const store = await Store.open(url, { poolSize: 8 });
  const user = await store.system.insertUserIfAbsent({
    name: 'bench',
    email: 'bench@example.com',
    role: 'admin',
  });
  const { db, dialect } = store.handle;

  const enqueuePerSec = await timeEnqueue(jobs, batchSize, (offset, count) =>
    enqueueTasks(
      db,
      dialect,
      Array.from({ length: count }, (_, k) => ({
        ownerId: user.id,
        taskType: 'noop',
        agentName: 'builtin/noop',
        agentVersion: '1.0.0',
        input: { i: offset + k },
        maxRetries: 0,
      })),
    ),
  );
  progress({ enqueuePerSec });
  if (config !== 'sqlite') await analyze(pgUrl);

  const counter = handlerCounter(jobs);
  const worker = new Worker({
    store,
    engine: new Engine(store),
    runtime: { execute: async () => (counter.hit(), {}) },
    events: {
      publish: async () => {
        throw new Error('no events in this benchmark');
      },
    },
    logger: pino({ level: 'error' }),
    concurrency: 512,
    pollMs: 50,
  });
  worker.start();
  await counter.allHandled;
  const doneAt = await waitUntil(async () => {
    const row = await db
      .selectFrom('tasks')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('status', '=', 'COMPLETED')
      .executeTakeFirstOrThrow();
    return Number(row.n) === jobs;
  });
  const processPerSec = perSecond(jobs, doneAt - counter.firstAt);
  await worker.stop(1000);
  await store.close();
  return { enqueuePerSec, processPerSec };
}
