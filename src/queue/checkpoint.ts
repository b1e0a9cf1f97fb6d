import {
  insertMessages,
  toDbJson,
  toDbTimestamp,
  type DatabaseHandle,
  type NewMessage,
} from '../storage/index.js';
import type { Lease } from './types.js';
import { stillRunning } from './batch.js';

export interface CheckpointRequest extends Lease {
  /** Any JSON value: what an attempt that resumes the task gets (`ClaimedTask.resumeState`). */
  readonly state: unknown;
  /** Written with the state: the conversation turns this checkpoint adds to the record. */
  readonly messages?: readonly NewMessage[];
}

/**
 * Saves a running task's progress without ending the attempt: `resume_state` now holds `state`,
 * so an attempt that takes the task over after a crash (or a retry) carries on from here, and
 * the rows that record what this progress was (an agent loop's turns) are written in the same
 * commit — the record holds exactly what the task will resume from, never a turn it will redo.
 *
 * Fenced by the lease epoch like a completion. Returns false when the lease was not held.
 */
export async function checkpointTask(
  handle: DatabaseHandle,
  request: CheckpointRequest,
  now: Date = new Date(),
): Promise<boolean> {
  const { db, dialect } = handle;
  return dialect.writeTransaction(db, async (trx) => {
    const result = await trx
      .updateTable('tasks')
      .set({ resume_state: toDbJson(request.state ?? null), updated_at: toDbTimestamp(now) })
      .where('id', '=', request.id)
      .where(stillRunning())
      .where('lease_epoch', '=', request.leaseEpoch)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) return false;
    await insertMessages(trx, request.messages ?? []);
    return true;
  });
}
