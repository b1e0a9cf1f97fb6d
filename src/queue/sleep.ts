import type { Kysely } from 'kysely';
import { EVENTS_CHANNEL, toDbJson, toDbTimestamp, type DatabaseHandle } from '../storage/index.js';
import { endAttempts } from './assignments.js';
import { enqueueTasks } from './enqueue.js';
import type { Lease, NewTask } from './types.js';
import { createWaitpoint, type WaitpointOwner, type WaitpointRequest } from './waitpoints.js';
import { PARKED_UNDER_FIRST_KEY } from './rows.js';
import { stillRunning } from './batch.js';

export interface SleepRequest extends Lease {
  /** When the task is claimable again. */
  readonly until: Date;
  /** Any JSON value: handed to the attempt that resumes the task (`ClaimedTask.resumeState`). */
  readonly state: unknown;
  /**
   * Tasks to start in the same transaction, as this task's children (`parent_task_id`): when the
   * last of them ends, this task becomes claimable at once instead of at `until` (wakeParents).
   * The sleep and the children are one commit: both happen or neither does.
   */
  readonly children?: readonly Omit<NewTask, 'parentTaskId'>[];
  /**
   * What the task waits for (an approval, an event): written in the same transaction, so no one
   * can resolve it while the task still runs. `until` is its timeout (NEVER without one). When
   * the task already has a settled waitpoint under the key (an attempt run again after a
   * crash), the task wakes at once instead.
   */
  readonly waitpoint?: { readonly owner: Omit<WaitpointOwner, 'taskId'>; readonly request: WaitpointRequest };
}

/**
 * Puts a running task to sleep: it goes back to PENDING, claimable from `until`, with `state`
 * kept in `resume_state` for the attempt that resumes it. Nothing was tried and nothing failed,
 * so the attempt count stays; the worker's slot is free at once, however long the sleep (a
 * builtin/delay of an hour holds no worker meanwhile). Being a row, the sleep survives restarts
 * of every process.
 *
 * Fenced by the lease epoch like a completion: a holder that lost its lease cannot reschedule
 * the task. The next claim bumps the epoch as usual. The worker assignment ends `released`.
 * Returns false when the lease was not held.
 */
export async function sleepTask(
  handle: DatabaseHandle,
  request: SleepRequest,
  now: Date = new Date(),
): Promise<boolean> {
  const { db, dialect } = handle;
  const at = toDbTimestamp(now);
  return dialect.writeTransaction(db, async (trx) => {
    await endAttempts(trx, dialect, 'released', at, (qb) =>
      qb.where('tasks.id', '=', request.id).where('tasks.lease_epoch', '=', request.leaseEpoch),
    );
    const result = await trx
      .updateTable('tasks')
      .set({
        status: 'PENDING',
        ...PARKED_UNDER_FIRST_KEY,
        run_at: toDbTimestamp(request.until),
        resume_state: toDbJson(request.state ?? null),
        locked_by: null,
        locked_until: null,
        started_at: null,
        heartbeat_at: null,
        updated_at: at,
      })
      .where('id', '=', request.id)
      .where(stillRunning())
      .where('lease_epoch', '=', request.leaseEpoch)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) return false;
    if (request.waitpoint !== undefined) {
      const { settled } = await createWaitpoint(
        trx,
        { ...request.waitpoint.owner, taskId: request.id },
        request.waitpoint.request,
        at,
      );
      if (settled) await trx.updateTable('tasks').set({ run_at: at }).where('id', '=', request.id).execute();
      // A new wait for events: the event dispatcher checks it against past events at once.
      else if (request.waitpoint.request.kind === 'event')
        await dialect.notify(trx as unknown as Kysely<unknown>, EVENTS_CHANNEL);
    }
    if (request.children !== undefined && request.children.length > 0)
      await enqueueTasks(
        trx,
        dialect,
        request.children.map((child) => ({ ...child, parentTaskId: request.id })),
      );
    return true;
  });
}
