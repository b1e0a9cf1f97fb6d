// pg-boss 10 on PostgreSQL: bulk enqueue with insert(), drain with work() handlers.
import pg from 'pg';
import PgBoss from 'pg-boss';
import { analyze, handlerCounter, payload, perSecond, timeEnqueue, waitUntil } from '../lib.mjs';

/** @type {import('../run.mjs').SystemInfo} */
export const system = { name: 'pg-boss', backend: 'postgres', package: 'pg-boss' };

// pg-boss has no default worth measuring: a work() loop fetches batchSize (default 1) jobs and
// then sleeps out the rest of its polling interval (default 2 s) even when more jobs wait, so
// defaults drain 0.5 jobs/s. A drain is therefore bounded by loops × batchSize per interval,
// and any figure can be had by fetching more per round. The tuned config keeps 4,000 jobs in
// flight (8× graphile-worker's local queue) so a 20k backlog takes five rounds: about 8–10k/s.
export const configs = {
  tuned: {
    description:
      '4 work() loops × batchSize 1000, pollingIntervalSeconds 0.5 (the minimum): about 8–10k jobs/s by design',
    loops: 4,
    work: { batchSize: 1000, pollingIntervalSeconds: 0.5 },
  },
};

const QUEUE = 'bench';

/** @param {import('../run.mjs').RunOptions} opts */
export async function run({ jobs, batchSize, config, pgUrl, progress }) {
  const chosen = configs[/** @type {keyof typeof configs} */ (config)];
  if (!chosen) throw new Error(`unknown pg-boss config ${config}`);

  const boss = new PgBoss({ connectionString: pgUrl, max: 10 });
  boss.on('error', (err) => console.error(`[pg-boss] ${err.message}`));
  await boss.start(); // creates its schema; not timed
  await boss.createQueue(QUEUE);

  const enqueuePerSec = await timeEnqueue(jobs, batchSize, (offset, count) =>
    boss.insert(Array.from({ length: count }, (_, k) => ({ name: QUEUE, data: payload(offset + k) }))),
  );
  progress({ enqueuePerSec });
  await analyze(pgUrl);

  const counter = handlerCounter(jobs);
  for (let i = 0; i < chosen.loops; i++) {
    // pg-boss 10 always hands a work() handler an array of jobs.
    await boss.work(QUEUE, chosen.work, async (batch) => counter.hit(batch.length));
  }
  await counter.allHandled;
  // pg-boss completes a fetched batch after the handler resolves, without awaiting it:
  // done = the store has every job in state 'completed'.
  const check = new pg.Client({ connectionString: pgUrl });
  await check.connect();
  const doneAt = await waitUntil(async () => {
    const { rows } = await check.query(
      "select count(*)::int as n from pgboss.job where name = $1 and state = 'completed'",
      [QUEUE],
    );
    return rows[0].n >= jobs;
  });
  const processPerSec = perSecond(jobs, doneAt - counter.firstAt);

  await check.end();
  await boss.stop({ graceful: false, wait: true, timeout: 2000 });
  return { enqueuePerSec, processPerSec };
}
