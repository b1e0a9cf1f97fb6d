import { sql, type ExpressionBuilder } from 'kysely';
import { toDbTimestamp, type DatabaseHandle, type SwarmDatabase } from '../storage/index.js';
import { instruments } from '../metrics/index.js';
import { endAttempts } from './assignments.js';
import type { FailureHooks, LeaseHooks } from './types.js';
import { PARKED_UNDER_FIRST_KEY } from './rows.js';
import { announceQueuedWork, kindsOf } from './announce.js';

/** The error a task carries when its holder stopped renewing (died, hung, cut off). */
export const LEASE_EXPIRED = 'lease expired';

/** How many times a task's lease may expire under it before it fails (SWARM_MAX_LEASE_LOSSES). */
export const DEFAULT_MAX_LEASE_LOSSES = 3;

/** Why a task whose leases kept expiring failed: `lease lost 3 times (…; SWARM_MAX_LEASE_LOSSES=3)`. */
export function leaseLostMessage(losses: number, maxLosses: number): string {
  return `lease lost ${losses} times (worker died or stalled; SWARM_MAX_LEASE_LOSSES=${maxLosses})`;
}

/** What the hooks hear of a task whose lease ran out, whether it ends or goes back. */
const ENDED_ATTEMPT_COLUMNS = [
  'id',
  'owner_id',
  'run_id',
  'step_id',
  'item_index',
  'retry_count',
  'lease_losses',
] as const;

/**
 * The tasks a live worker knows it holds: its own reclaim leaves them alone, however late its
 * renewals were (a stalled event loop, a slow database). Other workers' reclaims do not spare
 * them: to everyone else an expired lease is a worker that is gone.
 */
export interface SparedLeases {
  readonly workerId: string;
  readonly taskIds: readonly string[];
}

/**
 * Takes back the tasks whose lease ran out (`locked_until` < now: the holder stopped
 * renewing) and returns their ids. A lost lease is the platform's fault (the worker died or
 * stalled), not the step's, so it does not consume an attempt: the task goes back to PENDING,
 * claimable at once (its `run_at` unchanged, so it keeps its age), its `retry_count` as it was
 * and its `lease_losses` one higher, and `onLeaseLost` runs in the same transaction (the engine
 * writes the retry in the run's log). The `maxLeaseLosses`-th loss ends the task TIMEOUT with
 * `leaseLostMessage` instead, and `onFailed` runs, so a task that kills every worker taking it
 * does not go round for ever and its run does not wait on it.
 *
 * The lease epoch is left as it is: the next claim increments it, and that is what fences the
 * old holder — should it wake up, its renewals report the lease lost and its completion is
 * rejected. Its worker assignment is marked `lost`.
 *
 * Two statements, no CASE: one UPDATE for the tasks that end, one for those that go back.
 * The condition `status = 'RUNNING' AND locked_until < now` is served by idx_tasks_leases, and
 * row locks make concurrent reclaimers (several schedulers) take each task once. `spare` is the
 * reclaiming worker's own live tasks (SparedLeases).
 */
export async function reclaimExpiredLeases(
  handle: DatabaseHandle,
  now: Date = new Date(),
  hooks: FailureHooks & LeaseHooks = {},
  maxLeaseLosses: number = DEFAULT_MAX_LEASE_LOSSES,
  spare?: SparedLeases,
): Promise<string[]> {
  const { db, dialect } = handle;
  const notSpared = sparedFilter(dialect.maxParameters, spare);
  const at = toDbTimestamp(now);
  const max = Math.max(1, Math.floor(maxLeaseLosses));
  // Per row, so the count is right even for a task that lost more leases under a higher limit.
  const message = sql<string>`cast(${`lease lost `} as text) || cast(lease_losses + 1 as text) || cast(${` times (worker died or stalled; SWARM_MAX_LEASE_LOSSES=${max})`} as text)`;
  const ids = await dialect.writeTransaction(db, async (trx) => {
    // Both UPDATEs below take exactly these: RUNNING, lease expired, not spared.
    await endAttempts(
      trx,
      dialect,
      'lost',
      at,
      (qb) => qb.where('tasks.locked_until', '<', at).where(notSpared),
      'by-lease',
    );
    const timedOut = await trx
      .updateTable('tasks')
      .set((eb) => ({
        status: 'TIMEOUT',
        error_message: message,
        error_code: 'LEASE_EXPIRED',
        last_error: message,
        lease_losses: eb('lease_losses', '+', 1),
        completed_at: at,
        locked_by: null,
        locked_until: null,
        updated_at: at,
      }))
      .where('status', '=', 'RUNNING')
      .where('locked_until', '<', at)
      .where('lease_losses', '>=', max - 1)
      .where(notSpared)
      .returning([...ENDED_ATTEMPT_COLUMNS, 'scheduled_task_id', 'chain_id'])
      .execute();

    const requeued = await trx
      .updateTable('tasks')
      .set((eb) => ({
        status: 'PENDING',
        ...PARKED_UNDER_FIRST_KEY,
        lease_losses: eb('lease_losses', '+', 1),
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
      .where(notSpared)
      .returning([...ENDED_ATTEMPT_COLUMNS, 'concurrency_key'])
      .execute();
    // Back on the queue and claimable now: workers everywhere hear of it once this commits.
    await announceQueuedWork(trx, dialect, kindsOf(requeued));

    const ids = [...timedOut, ...requeued].map((row) => row.id);
    if (hooks.onLeaseLost !== undefined && requeued.length > 0) {
      await hooks.onLeaseLost(
        trx,
        requeued.map((row) => ({
          id: row.id,
          ownerId: row.owner_id,
          runId: row.run_id,
          stepId: row.step_id,
          itemIndex: row.item_index,
          attempt: row.retry_count + 1,
          leaseLosses: row.lease_losses,
          maxLeaseLosses: max,
        })),
      );
    }
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
          error: leaseLostMessage(row.lease_losses, max),
          code: 'LEASE_EXPIRED',
          scheduledTaskId: row.scheduled_task_id,
          chainId: row.chain_id,
        });
      }
    }
    return ids;
  });
  // Counted once committed: a rolled-back reclaim lost nothing.
  if (ids.length > 0) instruments.leaseLosses.inc(ids.length);
  return ids;
}

/**
 * `NOT (locked_by = :worker AND id IN (:spared))`; past the dialect's parameter limit, every
 * task the worker holds is spared (all of them are then live in all likelihood, and other
 * workers' reclaims still cover it should it be gone).
 */
function sparedFilter(maxParameters: number, spare: SparedLeases | undefined) {
  return (eb: ExpressionBuilder<SwarmDatabase, 'tasks'>) => {
    if (spare === undefined || spare.taskIds.length === 0) return eb.lit(true);
    if (spare.taskIds.length > maxParameters - 200) return eb('locked_by', '<>', spare.workerId);
    return eb.or([eb('locked_by', '<>', spare.workerId), eb('id', 'not in', [...spare.taskIds])]);
  };
}
