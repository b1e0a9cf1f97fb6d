import type { Kysely, RawBuilder } from 'kysely';
import { newId, type DialectAdapter, type LogicalType, type SwarmDatabase } from '../storage/index.js';
import { chunksFor } from './batch.js';

/**
 * `worker_assignments` is the history of who held what: one row per claim, written in the
 * transaction that changes the task, so it never disagrees with `tasks`. The task row stays
 * the truth the queue decides on; these rows are for people and dashboards (which worker ran
 * this, which worker lost what when it died).
 */
export type AssignmentEnd = 'completed' | 'released' | 'lost';

const COLUMNS = [
  { name: 'id', type: 'text' },
  { name: 'worker_id', type: 'text' },
  { name: 'task_id', type: 'text' },
  { name: 'run_id', type: 'text' },
  { name: 'lease_epoch', type: 'integer' },
  { name: 'status', type: 'text' },
  { name: 'hostname', type: 'text' },
  { name: 'pid', type: 'integer' },
  { name: 'assigned_at', type: 'timestamp' },
  { name: 'heartbeat_at', type: 'timestamp' },
] as const satisfies readonly { name: string; type: LogicalType }[];

/** One `running` assignment per claimed task, in multi-row inserts. */
export async function recordAssignments(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  tasks: readonly { id: string; run_id: string | null; lease_epoch: number }[],
  by: { workerId: string; now: string; hostname?: string; pid?: number },
): Promise<void> {
  const rows = tasks.map((task) => ({
    id: newId(),
    worker_id: by.workerId,
    task_id: task.id,
    run_id: task.run_id,
    lease_epoch: task.lease_epoch,
    status: 'running',
    hostname: by.hostname ?? null,
    pid: by.pid ?? null,
    assigned_at: by.now,
    heartbeat_at: by.now,
  }));
  if (rows.length === 0) return;
  // PostgreSQL: one array per column, one statement (see rowsAsSelect).
  const asSelect = dialect.rowsAsSelect(COLUMNS, rows);
  if (asSelect !== null) {
    await trx
      .insertInto('worker_assignments')
      .columns(COLUMNS.map((c) => c.name))
      .expression(asSelect as RawBuilder<never>)
      .execute();
    return;
  }
  for (const chunk of chunksFor(dialect, rows, COLUMNS.length))
    await trx.insertInto('worker_assignments').values(chunk).execute();
}

/** Ends the running assignments of these tasks (only a task's current claim is still running). */
export async function endAssignments(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  taskIds: readonly string[],
  status: AssignmentEnd,
  now: string,
): Promise<void> {
  for (const chunk of chunksFor(dialect, taskIds, 1)) {
    await trx
      .updateTable('worker_assignments')
      .set({ status, released_at: now })
      .where('task_id', 'in', chunk)
      .where('status', '=', 'running')
      .execute();
  }
}
