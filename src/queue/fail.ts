import { toDbText, toDbTimestamp, type DatabaseHandle } from '../storage/index.js';
import { instruments } from '../metrics/index.js';
import { endAttempts } from './assignments.js';
import { wakeParents } from './children.js';
import { cancelWaitpointsOf } from './waitpoints.js';
import { computeBackoffMs } from './backoff.js';
import { PARKED_UNDER_FIRST_KEY, retryPolicyOf } from './rows.js';
import type { FailureHooks, Lease } from './types.js';
import { stillRunning } from './batch.js';

export interface Failure extends Lease {
  readonly error: string;
  /** A stable code for the failure (the agent's, or Swarm's such as `TIMEOUT`). */
  readonly code?: string;
  /** False when trying again cannot help (bad input, a permanent refusal). @default true */
  readonly retryable?: boolean;
  /** The attempt ran past its `timeout_seconds` and was killed. */
  readonly timedOut?: boolean;
}

/** What became of the task: another attempt later, a final failure, or a lease not held. */
export type FailOutcome = 'retrying' | 'failed' | 'timeout' | 'rejected';

export interface FailOptions {
  /** @default new Date() */
  readonly now?: Date;
  /** The jitter's source. @default Math.random */
  readonly random?: () => number;
}

/**
 * Records a failed attempt, fenced by the lease epoch like a completion. With retries left (and
 * a retryable failure) the task goes back to PENDING, claimable at now + back-off, and the
 * delay is kept in `next_retry_at`; otherwise it ends FAILED, or TIMEOUT when the attempt timed
 * out, and `onFailed` runs in the same transaction. A timed-out attempt is retried like any
 * other: a timeout is often transient (a slow dependency).
 *
 * Reads the row, then writes it under the same fence: anything that moved the task in between
 * (reclaim, cancellation) also moved its status or epoch, so the write then matches nothing.
 */
export async function failTask(
  handle: DatabaseHandle,
  failure: Failure,
  hooks: FailureHooks = {},
  options: FailOptions = {},
): Promise<FailOutcome> {
  const { db, dialect } = handle;
  const nowDate = options.now ?? new Date();
  const now = toDbTimestamp(nowDate);
  const outcome = await dialect.writeTransaction(db, async (trx): Promise<FailOutcome> => {
    const fenced = trx
      .updateTable('tasks')
      .where('id', '=', failure.id)
      .where(stillRunning())
      .where('lease_epoch', '=', failure.leaseEpoch);
    const row = await trx
      .selectFrom('tasks')
      .select([
        'owner_id',
        'run_id',
        'step_id',
        'item_index',
        'retry_count',
        'max_retries',
        'retry_policy',
        'retry_options',
        'scheduled_task_id',
        'chain_id',
        'parent_task_id',
      ])
      .where('id', '=', failure.id)
      .where(stillRunning())
      .where('lease_epoch', '=', failure.leaseEpoch)
      .executeTakeFirst();
    if (row === undefined) return 'rejected';
    // The attempt ends below under the same fence (row found RUNNING at this epoch).
    await endAttempts(trx, dialect, 'completed', now, (qb) =>
      qb.where('tasks.id', '=', failure.id).where('tasks.lease_epoch', '=', failure.leaseEpoch),
    );
    const code = failure.code ?? (failure.timedOut ? 'TIMEOUT' : null);
    const attempt = row.retry_count + 1;

    if ((failure.retryable ?? true) && row.retry_count < row.max_retries) {
      const delay = computeBackoffMs(
        retryPolicyOf(row.retry_policy, row.retry_options),
        attempt,
        options.random,
      );
      const next = toDbTimestamp(new Date(nowDate.getTime() + delay));
      const result = await fenced
        .set({
          status: 'PENDING',
          ...PARKED_UNDER_FIRST_KEY,
          retry_count: attempt,
          run_at: next,
          next_retry_at: next,
          last_error: toDbText(failure.error),
          error_code: code,
          locked_by: null,
          locked_until: null,
          updated_at: now,
        })
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) return 'rejected';
      await hooks.onAttemptFailed?.(trx, { id: failure.id, timedOut: failure.timedOut ?? false });
      return 'retrying';
    }

    const status = failure.timedOut ? 'TIMEOUT' : 'FAILED';
    const result = await fenced
      .set({
        status,
        error_message: toDbText(failure.error),
        error_code: code,
        last_error: toDbText(failure.error),
        completed_at: now,
        next_retry_at: null,
        locked_by: null,
        locked_until: null,
        updated_at: now,
      })
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) return 'rejected';
    // A step that failed while waiting (an approval whose notification could not be sent) waits
    // for nothing any more: no inbox offers its decision.
    await cancelWaitpointsOf(trx, [failure.id], now);
    if (row.parent_task_id !== null) await wakeParents(trx, dialect, [row.parent_task_id], now);
    await hooks.onAttemptFailed?.(trx, { id: failure.id, timedOut: failure.timedOut ?? false });
    await hooks.onFailed?.(trx, {
      id: failure.id,
      ownerId: row.owner_id,
      runId: row.run_id,
      stepId: row.step_id,
      itemIndex: row.item_index,
      attempt,
      status,
      error: failure.error,
      code,
      scheduledTaskId: row.scheduled_task_id,
      chainId: row.chain_id,
    });
    return status === 'TIMEOUT' ? 'timeout' : 'failed';
  });
  // Counted once committed (src/metrics: in memory, synchronous).
  if (outcome === 'retrying') instruments.retries.inc();
  return outcome;
}
