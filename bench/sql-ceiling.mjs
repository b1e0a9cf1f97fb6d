// `npm run bench:sql-ceiling [-- --jobs N] [-- --repeat N] [-- --pg URL]`
// Where workload (a)'s time goes on PostgreSQL: the queue's two statements alone — the claim of
// 512 tasks and the completion of those 512 — sent back to back in two loops (as the worker keeps
// two batches in flight), with no worker, runtime or engine hook, through Swarm's own connection
// pool and type parsers. The same statements run on:
//   tasks                      Swarm's `tasks` table, every index, the claim returning what a
//                              worker needs (24 columns) and the completion what hooks need (13);
//   tasks-no-history-indexes   the same without the five indexes a finished task enters
//                              (idx_tasks_owner_created, idx_tasks_completed and three for agent
//                              and retention lookups): what the index entries cost;
//   tasks-narrow-returning     every index, the claim returning 6 columns and the completion 2:
//                              what reading the rows back costs;
//   tasks-lean                 both;
//   narrow                     an 11-column table with a ready index and a lease index: the
//                              shape of a hot queue table holding only what a claim needs;
//   narrow-delete              that table, a completion deleting the row (graphile-worker's way);
//   narrow-history             that table, a completion deleting the row and inserting the
//                              finished task into a history table shaped like `tasks` with the
//                              indexes of `tasks` that finished tasks enter: the least a queue that
//                              keeps each task's record can write (an optimistic bound: a real hot
//                              table carries the ~24 columns a worker reads, not 11);
//   tasks-split                `tasks` split by state: the claim as on `tasks`, on `tasks` without
//                              the five indexes only finished tasks need; the completion deleting
//                              the row and inserting it, whole, into that history table. The
//                              other bound of the design: a hot table as wide as `tasks` (minus
//                              `tasks`' delete triggers and the foreign keys naming it, which a
//                              split would point at the record, not at the hot row).
// Rounds alternate the variants, each on a fresh database of --jobs tasks enqueued with Swarm's
// enqueueTasks (narrow: one INSERT … SELECT). Prints each variant's median tasks/s and the CPU
// per task of this process and of PostgreSQL (every postgres process, from /proc). A diagnosis,
// not a target: the statements mirror src/queue/claim.ts and complete.ts as of this commit.
// Needs `npm run build`.
import { readdirSync, readFileSync } from 'node:fs';
import { CompiledQuery, sql } from 'kysely';
import pg from 'pg';
import { enqueueTasks } from '../dist/queue/index.js';
import { integerFlag, parseFlags } from './flags.mjs';
import { withDatabase } from './lib.mjs';
import { getMachineInfo } from './machine.mjs';
import { benchUser, noopTasks, openStore } from './swarm-lib.mjs';

const { values: args } = parseFlags(import.meta.url, {
  options: {
    jobs: { type: 'string', default: '20000' },
    repeat: { type: 'string', default: '3' },
    pg: {
      type: 'string',
      default: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
  },
});
const jobs = integerFlag(import.meta.url, 'jobs', args.jobs);
const repeats = integerFlag(import.meta.url, 'repeat', args.repeat, 1, 20);
const BATCH = 512;
const LOOPS = 2;
const DATABASE = 'swarm_bench_sql_ceiling';

const HISTORY_INDEXES = [
  'idx_tasks_owner_created',
  'idx_tasks_completed',
  'idx_tasks_agent_completed',
  'idx_tasks_named_agent_completed',
  'idx_tasks_standalone_completed',
];
const CLAIM_ALL =
  'id, owner_id, run_id, step_id, item_index, agent_name, agent_version, capability_required, task_type, input_data, priority, run_at, retry_count, max_retries, retry_policy, retry_options, timeout_seconds, expires_at, concurrency_key, lease_epoch, locked_until, resume_state, trace_context, idempotency_run_id';
const CLAIM_FEW = 'id, owner_id, input_data, priority, run_at, lease_epoch';
const DONE_ALL =
  'tasks.id, tasks.owner_id, tasks.run_id, tasks.step_id, tasks.item_index, tasks.retry_count, tasks.duration_ms, tasks.scheduled_task_id, tasks.chain_id, tasks.parent_task_id, tasks.assigned_agent_id, tasks.agent_name, tasks.agent_version';
const DONE_FEW = 'tasks.id, tasks.owner_id';

/** @param {string} returning */
const tasksClaim = (returning) => `
  WITH next AS MATERIALIZED (
    SELECT id FROM tasks WHERE status = 'PENDING' AND concurrency_key IS NULL AND run_at <= now()
    ORDER BY priority DESC, run_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
  UPDATE tasks SET status = 'RUNNING', lease_epoch = lease_epoch + 1, locked_by = $1,
    locked_until = now() + interval '30 s', worker_id = $1, assigned_at = now(), started_at = now(),
    heartbeat_at = now(), updated_at = now()
  WHERE id = ANY(ARRAY(SELECT id FROM next)) AND status = 'PENDING'
  RETURNING ${returning}`;
/** The completions every variant's completion statement reads: ids, the epochs they were claimed under, outputs. */
const DONE = `WITH done(id, lease_epoch, output) AS MATERIALIZED (
    SELECT * FROM unnest($1::text[], $2::int[], $3::jsonb[]))`;
/** @param {string} returning */
const tasksComplete = (returning) => `
  ${DONE}
  UPDATE tasks SET status = 'COMPLETED', result_data = done.output, duration_ms = 0,
    completed_at = now(), updated_at = now(), error_message = NULL, error_code = NULL,
    locked_by = NULL, locked_until = NULL
  FROM done
  WHERE tasks.id = done.id AND tasks.id = ANY($1::text[]) AND tasks.status = 'RUNNING'
    AND tasks.lease_epoch = done.lease_epoch
  RETURNING ${returning}`;
const NARROW_CLAIM = `
  WITH next AS MATERIALIZED (
    SELECT id FROM q WHERE status = 'PENDING' AND run_at <= now()
    ORDER BY priority DESC, run_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
  UPDATE q SET status = 'RUNNING', lease_epoch = lease_epoch + 1, locked_by = $1,
    locked_until = now() + interval '30 s'
  WHERE id = ANY(ARRAY(SELECT id FROM next)) AND status = 'PENDING'
  RETURNING id, owner_id, input_data, priority, run_at, lease_epoch`;
const NARROW_COMPLETE = `
  ${DONE}
  UPDATE q SET status = 'COMPLETED', result_data = done.output, completed_at = now(),
    locked_by = NULL, locked_until = NULL
  FROM done WHERE q.id = done.id AND q.id = ANY($1::text[]) AND q.status = 'RUNNING'
    AND q.lease_epoch = done.lease_epoch
  RETURNING q.id, q.owner_id`;
const NARROW_DELETE = `
  ${DONE}
  DELETE FROM q USING done WHERE q.id = done.id AND q.id = ANY($1::text[])
    AND q.lease_epoch = done.lease_epoch
  RETURNING q.id, q.owner_id`;

const NARROW_TO_HISTORY = `
  ${DONE},
  gone AS (
    DELETE FROM q USING done WHERE q.id = done.id AND q.id = ANY($1::text[])
      AND q.lease_epoch = done.lease_epoch
    RETURNING q.id, q.owner_id, q.priority, q.run_at, q.input_data, q.lease_epoch, q.locked_by,
      done.output)
  INSERT INTO h (id, owner_id, priority, run_at, status, input_data, result_data, lease_epoch,
    worker_id, started_at, completed_at, duration_ms)
  SELECT id, owner_id, priority, run_at, 'COMPLETED', input_data, output, lease_epoch, locked_by,
    now(), now(), 0
  FROM gone
  RETURNING h.id, h.owner_id`;
/** What tasks-split's completion writes where tasksComplete's UPDATE does; every other column moves as it is. */
const COMPLETED_AS = {
  status: "'COMPLETED'",
  result_data: 'output',
  duration_ms: '0',
  completed_at: 'now()',
  updated_at: 'now()',
  error_message: 'NULL',
  error_code: 'NULL',
  locked_by: 'NULL',
  locked_until: 'NULL',
};
/** tasks-split's completion: every column of the finished row moves from `tasks` to `h`. */
const splitComplete = (/** @type {string[]} */ columns) => `
  ${DONE},
  gone AS (
    DELETE FROM tasks USING done WHERE tasks.id = done.id AND tasks.id = ANY($1::text[])
      AND tasks.status = 'RUNNING' AND tasks.lease_epoch = done.lease_epoch
    RETURNING tasks.*, done.output)
  INSERT INTO h (${columns.join(', ')})
  SELECT ${columns.map((column) => COMPLETED_AS[/** @type {keyof typeof COMPLETED_AS} */ (column)] ?? column).join(', ')}
  FROM gone
  RETURNING ${DONE_ALL.replaceAll('tasks.', 'h.')}`;
/** Indexes of `tasks` that only queued or running tasks enter: a history table has none of them. */
const QUEUE_INDEXES = new Set([
  'idx_tasks_leases',
  'idx_tasks_ready',
  'idx_tasks_ready_owner',
  'idx_tasks_flow_parked',
  'idx_tasks_capability_ready',
  'idx_tasks_flow_running',
]);

/** @type {Record<string, { table: 'tasks' | 'q', dropIndexes?: boolean, history?: boolean, claim: string, complete: string | ((columns: string[]) => string) }>} */
const VARIANTS = {
  tasks: { table: 'tasks', claim: tasksClaim(CLAIM_ALL), complete: tasksComplete(DONE_ALL) },
  'tasks-no-history-indexes': {
    table: 'tasks',
    dropIndexes: true,
    claim: tasksClaim(CLAIM_ALL),
    complete: tasksComplete(DONE_ALL),
  },
  'tasks-narrow-returning': {
    table: 'tasks',
    claim: tasksClaim(CLAIM_FEW),
    complete: tasksComplete(DONE_FEW),
  },
  'tasks-lean': {
    table: 'tasks',
    dropIndexes: true,
    claim: tasksClaim(CLAIM_FEW),
    complete: tasksComplete(DONE_FEW),
  },
  narrow: { table: 'q', claim: NARROW_CLAIM, complete: NARROW_COMPLETE },
  'narrow-delete': { table: 'q', claim: NARROW_CLAIM, complete: NARROW_DELETE },
  'narrow-history': { table: 'q', history: true, claim: NARROW_CLAIM, complete: NARROW_TO_HISTORY },
  'tasks-split': {
    table: 'tasks',
    history: true,
    dropIndexes: true,
    claim: tasksClaim(CLAIM_ALL),
    complete: splitComplete,
  },
};

/** `h`: the columns and CHECKs of the migrated `tasks` (LIKE copies no foreign key), with its indexes but QUEUE_INDEXES. */
async function createHistoryTable(/** @type {import('kysely').Kysely<any>} */ db) {
  await sql`CREATE TABLE h (LIKE tasks INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`.execute(db);
  const indexes = await sql`SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tasks'`.execute(db);
  for (const { indexname, indexdef } of /** @type {{ indexname: string, indexdef: string }[]} */ (
    indexes.rows
  ))
    if (!QUEUE_INDEXES.has(indexname))
      await sql
        .raw(indexdef.replace(indexname, `h_${indexname}`).replace(' ON public.tasks ', ' ON public.h '))
        .execute(db);
}

/** CPU time of every postgres process, in µs (utime + stime from /proc; 100 ticks a second). */
function postgresCpuMicros() {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (!stat.includes('(postgres)')) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10_000;
}

const admin = new pg.Client({ connectionString: args.pg });
await admin.connect();

/** One round of one variant on a fresh database. */
async function measure(/** @type {keyof typeof VARIANTS} */ name) {
  const variant = VARIANTS[name];
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  const store = await openStore(withDatabase(args.pg, DATABASE), { poolSize: LOOPS + 2 });
  const { db, dialect } = store.handle;
  try {
    if (variant.table === 'tasks') {
      const user = await benchUser(store);
      for (let offset = 0; offset < jobs; offset += 1000)
        await enqueueTasks(db, dialect, noopTasks(user.id, offset, Math.min(1000, jobs - offset)));
      if (variant.history) {
        await createHistoryTable(db);
        // A moved row is not a deleted task: nothing that names it is followed or refused.
        await sql`DROP TRIGGER trg_tasks_deleted_records ON tasks`.execute(db);
        await sql`DROP TRIGGER trg_tasks_deleted_tasks ON tasks`.execute(db);
        const references = await sql`SELECT conname, conrelid::regclass::text AS child FROM pg_constraint
          WHERE confrelid = 'tasks'::regclass AND contype = 'f'`.execute(db);
        for (const { conname, child } of /** @type {{ conname: string, child: string }[]} */ (
          references.rows
        ))
          await sql.raw(`ALTER TABLE ${child} DROP CONSTRAINT ${conname}`).execute(db);
      }
      if (variant.dropIndexes)
        for (const index of HISTORY_INDEXES) await sql.raw(`DROP INDEX ${index}`).execute(db);
    } else {
      await sql`CREATE TABLE q (id text PRIMARY KEY, owner_id text NOT NULL, priority integer NOT NULL,
        run_at timestamptz NOT NULL, status text NOT NULL, locked_by text, locked_until timestamptz,
        lease_epoch integer NOT NULL DEFAULT 0, input_data jsonb NOT NULL, result_data jsonb,
        completed_at timestamptz)`.execute(db);
      await sql`CREATE INDEX q_ready ON q (priority DESC, run_at, id) WHERE status = 'PENDING'`.execute(db);
      await sql`CREATE INDEX q_leases ON q (locked_until) WHERE status = 'RUNNING'`.execute(db);
      await sql`INSERT INTO q (id, owner_id, priority, run_at, status, input_data)
        SELECT gen_random_uuid()::text, 'owner', 5, now(), 'PENDING', jsonb_build_object('i', g)
        FROM generate_series(1, ${jobs}::integer) g`.execute(db);
      if (variant.history) await createHistoryTable(db);
    }
    const complete =
      typeof variant.complete === 'string'
        ? variant.complete
        : variant.complete(
            (
              await sql`SELECT column_name FROM information_schema.columns
                WHERE table_schema = 'public' AND table_name = 'tasks' ORDER BY ordinal_position`.execute(db)
            ).rows.map((row) => /** @type {{ column_name: string }} */ (row).column_name),
          );
    await sql`ANALYZE`.execute(db);
    await sql`CHECKPOINT`.execute(db);

    const postgresBefore = postgresCpuMicros();
    const ownBefore = process.cpuUsage();
    const started = performance.now();
    let done = 0;
    await Promise.all(
      Array.from({ length: LOOPS }, async (_, loop) => {
        for (;;) {
          const claimed = await db.executeQuery(CompiledQuery.raw(variant.claim, [`w${loop}`, BATCH]));
          const rows = /** @type {{ id: string, lease_epoch: number }[]} */ (claimed.rows);
          if (rows.length === 0) return;
          const ids = rows.map((row) => row.id);
          const epochs = rows.map((row) => row.lease_epoch);
          const outputs = rows.map(() => 'null');
          const completed = await dialect.writeTransaction(db, (trx) =>
            trx.executeQuery(CompiledQuery.raw(complete, [ids, epochs, outputs])),
          );
          if (completed.rows.length !== rows.length)
            throw new Error(`${name}: ${completed.rows.length} of ${rows.length} completions recorded`);
          done += rows.length;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const own = process.cpuUsage(ownBefore);
    return {
      perSec: Math.round(done / seconds),
      swarmUs: (own.user + own.system) / done,
      postgresUs: (postgresCpuMicros() - postgresBefore) / done,
    };
  } finally {
    await store.close();
    await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  }
}

const machine = await getMachineInfo(args.pg);
console.log(
  `sql-ceiling: ${jobs} no-op tasks per round, claims of ${BATCH} in ${LOOPS} loops, ${repeats} rounds; ` +
    `${machine.cpuModel} × ${machine.cores}, node ${machine.node}, PostgreSQL ${machine.postgres}`,
);
/** @type {Record<string, Awaited<ReturnType<typeof measure>>[]>} */
const results = Object.fromEntries(Object.keys(VARIANTS).map((name) => [name, []]));
for (let round = 0; round < repeats; round++)
  for (const name of Object.keys(VARIANTS)) {
    const result = await measure(/** @type {keyof typeof VARIANTS} */ (name));
    results[name].push(result);
    console.log(`  round ${round + 1} ${name} … ${result.perSec} tasks/s`);
  }
await admin.end();

const median = (/** @type {number[]} */ values) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const base = median(results.tasks.map((r) => r.perSec));
console.log(
  '\nvariant                    tasks/s (median)   × tasks   this process µs/task   PostgreSQL µs/task',
);
for (const [name, rounds] of Object.entries(results)) {
  const perSec = median(rounds.map((r) => r.perSec));
  console.log(
    `${name.padEnd(26)} ${String(perSec).padStart(16)}   ${(perSec / base).toFixed(2).padStart(7)}   ` +
      `${median(rounds.map((r) => r.swarmUs))
        .toFixed(1)
        .padStart(20)}   ${median(rounds.map((r) => r.postgresUs))
        .toFixed(1)
        .padStart(18)}`,
  );
}
