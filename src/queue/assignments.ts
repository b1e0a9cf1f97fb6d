import type { Kysely } from 'kysely';
import { newId, type DialectAdapter, type SwarmDatabase } from '../storage/index.js';
import { chunksFor } from './batch.js';

/**
 * `worker_assignments` is the history of who held what: one row per claim, written in the
 * transaction that changes the task, so it never disagrees with `tasks`. The task row stays
 * the truth the queue decides on; these rows are for people and dashboards (which worker ran
 * this, which worker lost what when it died).
 */
export type AssignmentEnd = 'completed' | 'released' | 'lost';

const PARAMS_PER_ROW = 10;

/** One `running` assignment per claimed task, in multi-row inserts. */
export async function recordAssignments(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  tasks: readonly { id: string; run_id: string | null; lease_epoch: number }[],
  by: { workerId: string; now: string; hostname?: string; pid?: number },
): Promise<void> {
  for (const chunk of chunksFor(dialect, tasks, PARAMS_PER_ROW)) {
    await trx
      .insertInto('worker_assignments')
      .values(
        chunk.map((task) => ({
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
        })),
      )
      .execute();
  }
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
