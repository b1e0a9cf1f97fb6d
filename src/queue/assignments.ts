import { sql, type Kysely, type SelectQueryBuilder } from 'kysely';
import { newId, type DialectAdapter, type SwarmDatabase } from '../storage/index.js';
import { chunksFor, stillRunning } from './batch.js';

/**
 * `worker_assignments` is the history of who held what: one row per ENDED attempt, written in
 * the transaction that ends it, so it never disagrees with `tasks`. Two attempts have no row,
 * because the task row carries them (worker_id, assigned_at, heartbeat_at, lease_epoch, and
 * completed_at once done) and readers show them from there (src/engine/attempts.ts):
 * - the attempt running now;
 * - the attempt that completed the task: it is the task's last, and the row is never claimed
 *   again (a failed attempt does get a row: the task's columns move on to its next attempt).
 * Writing at the end only, and not for completions, spares the claim an INSERT, every heartbeat
 * an UPDATE and every completion an INSERT per task: most of the queue's cost on PostgreSQL.
 *
 * The row is read from the task BEFORE the statement that ends the attempt changes it (several
 * clear locked_by, started_at or heartbeat_at): callers run `endAttempts` first, with the very
 * filter of their UPDATE, so only the attempt holding the task (RUNNING, at its lease_epoch)
 * gets a row and a rejected end (stale epoch) writes none. hostname and pid are not known at
 * the end (worker ids do not carry them, and the tasks row is not widened for them): null.
 */
/**
 * How an attempt with a row ended: `completed` with an outcome (today a failure: a success has
 * no row), `released` handed back untried, `lost` its lease ran out.
 */
export type AssignmentEnd = 'completed' | 'released' | 'lost';

export type RunningTasks = (
  qb: SelectQueryBuilder<SwarmDatabase, 'tasks', object>,
) => SelectQueryBuilder<SwarmDatabase, 'tasks', object>;

/** The columns an ended attempt's row is written with. */
const ASSIGNMENT_COLUMNS = [
  'id',
  'worker_id',
  'task_id',
  'run_id',
  'lease_epoch',
  'status',
  'assigned_at',
  'heartbeat_at',
  'released_at',
] as const;

/**
 * One ended assignment per RUNNING task `narrow` keeps; run before the UPDATE that ends them.
 * `reach`: how that UPDATE finds its tasks, by their ids (or run, or parent) or by their leases
 * (reclaim: idx_tasks_leases); this read goes the same way (see stillRunning).
 */
export async function endAttempts(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  status: AssignmentEnd,
  now: string,
  narrow: RunningTasks,
  reach: 'by-id' | 'by-lease' = 'by-id',
): Promise<void> {
  const tasks = trx.selectFrom('tasks');
  const running = narrow(
    reach === 'by-lease' ? tasks.where('tasks.status', '=', 'RUNNING') : tasks.where(stillRunning()),
  );
  const idSql = dialect.newIdSql();
  if (idSql !== null) {
    // One INSERT … SELECT: no round trip to fetch what the database already has.
    const at = sql`cast(${now} as timestamptz)`;
    await trx
      .insertInto('worker_assignments')
      .columns(ASSIGNMENT_COLUMNS)
      .expression(
        running.select([
          idSql.as('id'),
          sql<string>`coalesce(tasks.worker_id, tasks.locked_by, '')`.as('worker_id'),
          'tasks.id as task_id',
          'tasks.run_id',
          'tasks.lease_epoch',
          sql<string>`cast(${status} as text)`.as('status'),
          sql`coalesce(tasks.assigned_at, tasks.started_at, ${at})`.as('assigned_at'),
          'tasks.heartbeat_at',
          at.as('released_at'),
        ]),
      )
      .execute();
    return;
  }
  const found = await running
    .select([
      'tasks.id',
      'tasks.worker_id',
      'tasks.locked_by',
      'tasks.run_id',
      'tasks.lease_epoch',
      'tasks.assigned_at',
      'tasks.started_at',
      'tasks.heartbeat_at',
    ])
    .execute();
  const rows = found.map((task) => ({
    id: newId(),
    worker_id: task.worker_id ?? task.locked_by ?? '',
    task_id: task.id,
    run_id: task.run_id,
    lease_epoch: task.lease_epoch,
    status,
    assigned_at: task.assigned_at ?? task.started_at ?? now,
    heartbeat_at: task.heartbeat_at,
    released_at: now,
  }));
  for (const chunk of chunksFor(dialect, rows, ASSIGNMENT_COLUMNS.length))
    await trx.insertInto('worker_assignments').values(chunk).execute();
}
