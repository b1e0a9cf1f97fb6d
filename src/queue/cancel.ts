import { InputError } from '../errors/index.js';
import type { Kysely } from 'kysely';
import { toDbTimestamp, type DatabaseHandle, type SwarmDatabase } from '../storage/index.js';
import { endAttempts } from './assignments.js';
import { chunksFor } from './batch.js';
import { wakeParents } from './children.js';
import { cancelWaitpointsOf } from './waitpoints.js';

export interface CancelFilter {
  /** These tasks. */
  readonly ids?: readonly string[];
  /** Every unfinished task of this run. */
  readonly runId?: string;
}

/** Statuses a cancellation reaches: finished tasks keep their outcome. */
const CANCELLABLE = ['PENDING', 'ASSIGNED', 'RUNNING'] as const;

/**
 * Cancels the unfinished tasks the filter names (ids, or a run's, or both) and returns their
 * ids. A waiting task will never be claimed; a running one loses its lease at once: the epoch
 * is bumped, so the holder's next heartbeat reports the lease lost (that is how the attempt
 * learns it must stop, within one heartbeat interval) and its late completion is rejected.
 * The holder's worker assignment ends as `released`.
 */
export async function cancelTasks(
  handle: DatabaseHandle,
  filter: CancelFilter,
  by: string,
  reason: string,
  now: Date = new Date(),
  /** Runs in the cancellation's transaction with the ids cancelled (the caller's audit row). */
  within?: (trx: Kysely<SwarmDatabase>, cancelled: readonly string[]) => Promise<void>,
): Promise<string[]> {
  const { db, dialect } = handle;
  if (filter.ids === undefined && filter.runId === undefined) {
    throw new InputError('filter', 'name the tasks to cancel (ids) or their run (runId)');
  }
  const at = toDbTimestamp(now);
  // Without ids, one pass on the run alone; with ids, one pass per chunk of them.
  const idChunks = filter.ids === undefined ? [undefined] : chunksFor(dialect, filter.ids, 1);
  return dialect.writeTransaction(db, async (trx) => {
    const cancelled: string[] = [];
    // Parents of cancelled children: they wake to read how their children ended.
    const parents: string[] = [];
    for (const ids of idChunks) {
      if (ids !== undefined && ids.length === 0) continue;
      await endAttempts(trx, dialect, 'released', at, (qb) =>
        qb
          .$if(ids !== undefined, (q) => q.where('tasks.id', 'in', ids!))
          .$if(filter.runId !== undefined, (q) => q.where('tasks.run_id', '=', filter.runId!)),
      );
      const rows = await trx
        .updateTable('tasks')
        .set((eb) => ({
          status: 'CANCELLED',
          cancelled_at: at,
          cancelled_by: by,
          cancellation_reason: reason,
          lease_epoch: eb('lease_epoch', '+', 1),
          locked_by: null,
          locked_until: null,
          updated_at: at,
        }))
        .where('status', 'in', CANCELLABLE)
        .$if(ids !== undefined, (qb) => qb.where('id', 'in', ids!))
        .$if(filter.runId !== undefined, (qb) => qb.where('run_id', '=', filter.runId!))
        .returning(['id', 'parent_task_id'])
        .execute();
      // One push per row: a run's tasks may be too many to spread as arguments.
      for (const row of rows) {
        cancelled.push(row.id);
        if (row.parent_task_id !== null) parents.push(row.parent_task_id);
      }
    }
    // A cancelled task's children (an agent loop's tool calls) go with it, and theirs.
    for (let from = 0; from < cancelled.length;) {
      const parents = cancelled.slice(from);
      from = cancelled.length;
      for (const chunk of chunksFor(dialect, parents, 1)) {
        await endAttempts(trx, dialect, 'released', at, (qb) =>
          qb.where('tasks.parent_task_id', 'in', chunk),
        );
        const rows = await trx
          .updateTable('tasks')
          .set((eb) => ({
            status: 'CANCELLED',
            cancelled_at: at,
            cancelled_by: by,
            cancellation_reason: reason,
            lease_epoch: eb('lease_epoch', '+', 1),
            locked_by: null,
            locked_until: null,
            updated_at: at,
          }))
          .where('status', 'in', CANCELLABLE)
          .where('parent_task_id', 'in', chunk)
          .returning('id')
          .execute();
        for (const row of rows) cancelled.push(row.id);
      }
    }
    // What they waited for is cancelled with them: no inbox offers a decision nobody awaits.
    for (const chunk of chunksFor(dialect, cancelled, 1)) await cancelWaitpointsOf(trx, chunk, at);
    if (parents.length > 0) await wakeParents(trx, dialect, parents, at);
    await within?.(trx, cancelled);
    return cancelled;
  });
}
