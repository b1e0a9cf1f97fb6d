import { toDbTimestamp, type DatabaseHandle } from '../storage/index.js';
import { endAssignments } from './assignments.js';
import type { FailureHooks } from './types.js';

/** The error a task carries when its holder stopped renewing (died, hung, cut off). */
export const LEASE_EXPIRED = 'lease expired';

/**
 * Takes back the tasks whose lease ran out (`locked_until` < now: the holder stopped
 * renewing) and returns their ids. Each lost lease counts as an attempt: with retries left the
 * task goes back to PENDING, claimable at once (its `run_at` unchanged, so it keeps its age),
 * its retry_count one higher; without, it ends
 * TIMEOUT and `onFailed` runs in the same transaction, so a run does not wait on it forever.
 *
 * The lease epoch is left as it is: the next claim increments it, and that is what fences the
 * old holder — should it wake up, its renewals report the lease lost and its completion is
 * rejected. Its worker assignment is marked `lost`.
 *
 * Two statements, no CASE: one UPDATE for the tasks that end, one for those that go back.
 * The condition `status = 'RUNNING' AND locked_until < now` is served by idx_tasks_leases, and
 * row locks make concurrent reclaimers (several schedulers) take each task once.
 */
export async function reclaimExpiredLeases(
  handle: DatabaseHandle,
  now: Date = new Date(),
  hooks: FailureHooks = {},
): Promise<string[]> {
  const { db, dialect } = handle;
  const at = toDbTimestamp(now);
  return dialect.writeTransaction(db, async (trx) => {
    const timedOut = await trx
      .updateTable('tasks')
      .set({
        status: 'TIMEOUT',
        error_message: LEASE_EXPIRED,
        error_code: 'LEASE_EXPIRED',
        last_error: LEASE_EXPIRED,
        completed_at: at,
        locked_by: null,
        locked_until: null,
        updated_at: at,
      })
      .where('status', '=', 'RUNNING')
      .where('locked_until', '<', at)
      .whereRef('retry_count', '>=', 'max_retries')
      .returning([
        'id',
        'owner_id',
        'run_id',
        'step_id',
        'item_index',
        'retry_count',
        'scheduled_task_id',
        'chain_id',
      ])
      .execute();

    const requeued = await trx
      .updateTable('tasks')
      .set((eb) => ({
        status: 'PENDING',
        retry_count: eb('retry_count', '+', 1),
        // run_at stays: the task is claimable at once and keeps its place among its equals.
        next_retry_at: at,
        last_error: LEASE_EXPIRED,
        error_code: 'LEASE_EXPIRED',
        locked_by: null,
        locked_until: null,
        updated_at: at,
      }))
      .where('status', '=', 'RUNNING')
      .where('locked_until', '<', at)
      .returning('id')
      .execute();

    const ids = [...timedOut, ...requeued].map((row) => row.id);
    await endAssignments(trx, dialect, ids, 'lost', at);
    if (hooks.onFailed !== undefined) {
      for (const row of timedOut) {
        await hooks.onFailed(trx, {
          id: row.id,
          ownerId: row.owner_id,
          runId: row.run_id,
          stepId: row.step_id,
          itemIndex: row.item_index,
          attempt: row.retry_count + 1,
          status: 'TIMEOUT',
          error: LEASE_EXPIRED,
          code: 'LEASE_EXPIRED',
          scheduledTaskId: row.scheduled_task_id,
          chainId: row.chain_id,
        });
      }
    }
    return ids;
  });
}
