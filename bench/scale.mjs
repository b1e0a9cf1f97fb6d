// `npm run bench:scale [-- --history N] [-- --samples N] [-- --jobs N] [-- --reuse] [-- --pg URL]`
// Issue 18's scale row: does the queue slow down as its history grows? The same measurements on
// two PostgreSQL databases — an empty `tasks` table, and one holding N finished tasks (default
// 10,000,000, COMPLETED over the last 30 days, inserted with generate_series) — :
//   claim   p50/p99 of one claimTasks(limit 1) with one task ready (and of its completeTasks),
//           one sample on each database in turn, so that the machine's drift weighs on both;
//   drain   no-op tasks/s of --jobs tasks drained by 1 worker process, then by 4.
// Prints both and their ratio, and writes bench/results/<date>-scale.json. Needs `npm run build`.
// The empty table is a fresh database each run; the filled one (swarm_bench_scale: ~7 GB for 10M
// rows, ~5 min to fill here) is kept, and --reuse measures on it again without refilling.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { claimTasks, completeTasks, enqueueTasks } from '../dist/queue/index.js';
import { withDatabase } from './lib.mjs';
import { getMachineInfo } from './machine.mjs';
import { benchUser, forkWorkers, noopTasks, openStore, percentile, waitForCount } from './swarm-lib.mjs';
import { integerFlag, parseFlags } from './flags.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: args } = parseFlags(import.meta.url, {
  options: {
    history: { type: 'string', default: '10000000' },
    samples: { type: 'string', default: '300' },
    jobs: { type: 'string', default: '20000' },
    reuse: { type: 'boolean', default: false },
    pg: {
      type: 'string',
      default: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
  },
});
const history = integerFlag(import.meta.url, 'history', args.history);
const samples = integerFlag(import.meta.url, 'samples', args.samples);
const jobs = integerFlag(import.meta.url, 'jobs', args.jobs);
const FILL_BATCH = 1_000_000;

const admin = new pg.Client({ connectionString: args.pg });
await admin.connect();

/** One measurement's database and store: made afresh, unless `keep` and it exists. */
async function database(/** @type {string} */ name, /** @type {boolean} */ keep) {
  const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  if (!(keep && exists)) {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  }
  const url = withDatabase(args.pg, name);
  const store = await openStore(url, { poolSize: 4 });
  const found =
    keep && exists ? await store.handle.db.selectFrom('users').select(['id']).executeTakeFirst() : undefined;
  const user = found ?? (await benchUser(store));
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  return { url, store, user, sql };
}
/** @typedef {Awaited<ReturnType<typeof database>>} Measured */

/**
 * p50/p99 ms of claiming one ready task, and of completing it — the queue's per-claim cost — on
 * each database, the samples interleaved (empty, full, full, empty, …) so that the machine's
 * drift over the run (the disk's fsync above all) weighs on both alike.
 * @param {Measured[]} databases
 */
async function claimLatencies(databases) {
  const claim = databases.map(() => /** @type {number[]} */ ([]));
  const complete = databases.map(() => /** @type {number[]} */ ([]));
  for (let i = 0; i < samples + 10; i++) {
    const order = databases.map((_, k) => k);
    if (i % 2 === 1) order.reverse();
    for (const k of order) {
      const at = /** @type {Measured} */ (databases[k]);
      const { db, dialect } = at.store.handle;
      await enqueueTasks(db, dialect, [
        {
          ownerId: at.user.id,
          taskType: 'noop',
          agentName: 'builtin/noop',
          agentVersion: '1.0.0',
          input: { i },
        },
      ]);
      const t0 = performance.now();
      const [task] = await claimTasks(at.store.handle, { workerId: 'scale', limit: 1, leaseMs: 30_000 });
      const t1 = performance.now();
      if (task === undefined) throw new Error('the ready task was not claimed');
      await completeTasks(at.store.handle, [{ id: task.id, leaseEpoch: task.leaseEpoch, output: null }]);
      const t2 = performance.now();
      if (i >= 10) {
        // The first ten warm the connections and the plan cache.
        claim[k]?.push(t1 - t0);
        complete[k]?.push(t2 - t1);
      }
    }
  }
  return databases.map((_, k) => ({
    claimP50: percentile(claim[k] ?? [], 50),
    claimP99: percentile(claim[k] ?? [], 99),
    completeP50: percentile(complete[k] ?? [], 50),
    completeP99: percentile(complete[k] ?? [], 99),
  }));
}

/**
 * Tasks/s of `jobs` no-op tasks drained by `processes` worker processes.
 * @param {Measured} at
 * @param {number} processes
 */
async function drain(at, processes) {
  const { db, dialect } = at.store.handle;
  for (let off = 0; off < jobs; off += 1000)
    await enqueueTasks(db, dialect, noopTasks(at.user.id, off, Math.min(1000, jobs - off)));
  await at.sql.query('ANALYZE tasks');
  // Unfinished tasks, counted through the partial indexes of ready and of held tasks (their
  // predicates word for word): any other count would read the whole history on every poll.
  const unfinished = async () =>
    Number(
      (
        await at.sql.query(
          `SELECT (SELECT count(*) FROM tasks WHERE status = 'PENDING' AND concurrency_key IS NULL)
                + (SELECT count(*) FROM tasks WHERE status IN ('ASSIGNED', 'RUNNING')) AS n`,
        )
      ).rows[0].n,
    );
  const workers = await forkWorkers(processes, at.url, { hold: true });
  await workers.go();
  const doneAt = await waitForCount(async () => jobs - (await unfinished()), jobs);
  const perSec = Math.round((jobs * 1000) / (doneAt - workers.firstStartAt()));
  await workers.stop();
  return perSec;
}

/**
 * N finished tasks, a million per statement, spread over the last 30 days.
 * @param {Measured} at
 */
async function fillHistory(at) {
  const started = performance.now();
  for (let from = 1; from <= history; from += FILL_BATCH) {
    const to = Math.min(history, from + FILL_BATCH - 1);
    await at.sql.query(
      `INSERT INTO tasks (id, owner_id, task_type, agent_name, agent_version, input_data, result_data, status,
         lease_epoch, worker_id, run_at, created_at, assigned_at, started_at, completed_at, updated_at, duration_ms)
       SELECT '00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'), $1, 'noop', 'builtin/noop', '1.0.0',
         jsonb_build_object('i', i), 'null'::jsonb, 'COMPLETED', 1, 'history',
         t, t, t, t, t + interval '3 ms', t + interval '3 ms', 3
       FROM generate_series($2::bigint, $3::bigint) AS i,
         LATERAL (SELECT now() - interval '30 days' * (1 - i::float8 / $4) AS t) AS at`,
      [at.user.id, from, to, history],
    );
    process.stdout.write(
      `\r  history: ${to.toLocaleString('en-US')} rows (${Math.round((performance.now() - started) / 1000)} s)`,
    );
  }
  process.stdout.write('\n');
  await at.sql.query('VACUUM ANALYZE tasks');
  return Math.round((performance.now() - started) / 1000);
}

const machine = await getMachineInfo(args.pg);
console.log(
  `scale: claim latency and drain throughput, empty vs ${history.toLocaleString('en-US')} finished tasks`,
);
const empty = await database('swarm_bench_scale_empty', false);
const full = await database('swarm_bench_scale', args.reuse);
const kept = Number(
  (await full.sql.query(`SELECT count(*) AS n FROM tasks WHERE worker_id = 'history'`)).rows[0].n,
);
const fillSeconds = kept >= history ? null : await fillHistory(full);
// Reused, the table also holds the dead entries an earlier run's drains left in the partial
// indexes of ready and held tasks, which every claim walks past until a vacuum removes them
// (autovacuum does, after 10,000 dead rows: migration 0046; CI's PostgreSQL runs without it):
// vacuumed, it is as a fill leaves it, and the runs compare the history's size alone.
if (fillSeconds === null) await full.sql.query('VACUUM ANALYZE tasks');
const size = (await full.sql.query(`SELECT pg_size_pretty(pg_total_relation_size('tasks')) AS s`)).rows[0].s;
const labels = ['empty history', `${(history / 1e6).toLocaleString('en-US')}M history rows`];
const latencies = await claimLatencies([empty, full]);
// Drains in turn: 1 process on the empty table then the full one, 4 processes the other way round.
const drain1 = [await drain(empty, 1), await drain(full, 1)];
const drain4Full = await drain(full, 4);
const drain4 = [await drain(empty, 4), drain4Full];
const rows = [0, 1].map((k) => ({
  label: labels[k],
  .../** @type {NonNullable<(typeof latencies)[number]>} */ (latencies[k]),
  drain1: /** @type {number} */ (drain1[k]),
  drain4: /** @type {number} */ (drain4[k]),
}));
for (const row of rows)
  console.log(
    `${String(row.label).padEnd(22)} claim p50 ${row.claimP50} ms p99 ${row.claimP99} ms; complete p50 ${row.completeP50} ms p99 ${row.completeP99} ms; drain 1 process ${row.drain1}/s, 4 processes ${row.drain4}/s`,
  );
const [emptyRow, fullRow] = /** @type {[(typeof rows)[number], (typeof rows)[number]]} */ (rows);
const ratio = (/** @type {number} */ a, /** @type {number} */ b) => Math.round((a / b) * 100) / 100;
const ratios = {
  claimP50: ratio(/** @type {number} */ (fullRow.claimP50), /** @type {number} */ (emptyRow.claimP50)),
  claimP99: ratio(/** @type {number} */ (fullRow.claimP99), /** @type {number} */ (emptyRow.claimP99)),
  drain1: ratio(fullRow.drain1, emptyRow.drain1),
  drain4: ratio(fullRow.drain4, emptyRow.drain4),
};
console.log(
  `history ${fillSeconds === null ? 'reused' : `filled in ${fillSeconds} s`} (tasks table and indexes: ${size}); full / empty: claim p50 ${ratios.claimP50}×, p99 ${ratios.claimP99}×; drain 1 process ${ratios.drain1}×, 4 processes ${ratios.drain4}×`,
);
console.log(
  `target: claim latency at ${history.toLocaleString('en-US')} history rows within 20% of the empty table's (p50): ${ratios.claimP50 <= 1.2 ? 'met' : 'not met'}`,
);
for (const at of [empty, full]) {
  await at.sql.end();
  await at.store.close();
}
await admin.query('DROP DATABASE swarm_bench_scale_empty WITH (FORCE)');
await admin.end();
const out = path.join(here, 'results', `${new Date().toISOString().slice(0, 10)}-scale.json`);
await mkdir(path.dirname(out), { recursive: true });
await writeFile(
  out,
  `${JSON.stringify({ at: new Date().toISOString(), history, samples, jobs, machine, empty: emptyRow, full: fullRow, interleaved: true, fillSeconds, size, ratios }, null, 2)}\n`,
);
console.log(`wrote ${path.relative(process.cwd(), out)}`);
