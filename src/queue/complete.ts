import { inlineJson } from '../blobs/index.js';
import type { Kysely } from 'kysely';
import { instruments, secondsSince } from '../metrics/index.js';
import {
  isTransientDatabaseError,
  toDbTimestamp,
  type DatabaseHandle,
  type DialectAdapter,
  type SwarmDatabase,
} from '../storage/index.js';
import { EagerClaim, type EagerClaimOptions } from './eager.js';
import { byClaimOrder, toClaimedTask } from './rows.js';
import { wakeParents } from './children.js';
import { heldUnder, inBatch, inlineChunks, inlineRows, uniqueById, type InlineColumn } from './batch.js';
import { failTask, type FailOutcome } from './fail.js';
import { releaseTasks } from './release.js';
import { storeOutputs } from './payloads.js';
import { bisectFailures, messageOf } from './split.js';
import {
  PREPARE_ON_REQUEST,
  PrepareFirstError,
  type CompletionHooks,
  type FailureHooks,
  type ClaimedTask,
  type Lease,
} from './types.js';

export interface Completion extends Lease {
  /** Any JSON value; `undefined` is stored as null. */
  readonly output: unknown;
  readonly durationMs?: number;
  /**
   * Where the task belongs, as its claim said: lets `prepareCompletedBatch` work ahead. Only a
   * hint: what the transaction records comes from the task's row.
   */
  readonly runId?: string | null;
  readonly stepId?: string | null;
  readonly itemIndex?: number | null;
}

export interface CompleteResult {
  readonly completed: string[];
  /** Not completed: the lease was lost (reclaimed, cancelled, claimed again) or never held. */
  readonly rejected: string[];
  /**
   * Not completed: recording the completion threw even on its own (an output the database
   * cannot store, a hook's error), so the attempt was failed with that error instead — it is
   * retried if it has attempts left, else the task fails (and its run with it). `outcome` is
   * failTask's, or `unrecorded` when failing it threw too: the task then stays RUNNING until its
   * lease expires and is reclaimed — as it does, without failing it, when the error was the
   * database's passing trouble (isTransientDatabaseError).
   */
  readonly failed: Array<{ id: string; error: string; outcome: FailOutcome | 'unrecorded' }>;
  /**
   * Tasks the completions released and the worker now holds (claim on complete: `eager`),
   * in claim order. Empty unless asked for.
   */
  readonly claimed: ClaimedTask[];
}

/** The error code of a task whose completion could not be recorded. */
export const COMPLETION_FAILED = 'COMPLETION_FAILED';

const DONE_COLUMNS: readonly InlineColumn[] = [
  { name: 'id', type: 'text' },
  { name: 'lease_epoch', type: 'integer' },
  { name: 'output', type: 'json' },
  { name: 'duration_ms', type: 'bigint' },
  { name: 'status', type: 'text' },
];

interface DoneRow {
  id: string;
  lease_epoch: number;
  output: string;
  duration_ms: number | null;
  /** The state the task must still be in (RUNNING): see heldUnder. */
  status: 'RUNNING';
}

/**
 * Completes a batch of tasks in one write transaction:
 *
 *   WITH done(id, lease_epoch, output, duration_ms, status) AS MATERIALIZED (VALUES (…), …)
 *   UPDATE tasks SET status = 'COMPLETED', result_data = done.output, … FROM done
 *   WHERE tasks.id = done.id AND tasks.id IN (…the batch's ids: see inBatch)
 *     AND tasks.lease_epoch = done.lease_epoch AND tasks.status = done.status  -- heldUnder
 *   RETURNING …;
 *
 * then `onCompleted` for each completed task, in the same transaction. The epoch condition is
 * the fence: a worker whose lease was taken away cannot complete, so a task's result is
 * recorded once, by its current holder. The completed attempt writes no `worker_assignments` row:
 * the task row keeps who ran it and when (assignments.ts).
 *
 * One bad completion never sinks the others: if the batch's transaction throws (a hook's
 * error, an output the database refuses), it rolls back and each half is completed on its own,
 * down to single tasks (bisectFailures). A completion that throws even alone is failed with its
 * own error through failTask and `hooks` (see CompleteResult.failed); every other one commits.
 * Only a transient database error (unreachable, deadlock, busy: isTransientDatabaseError) is
 * thrown: it says nothing about the tasks, whose completions may be sent again.
 */
export async function completeTasks(
  handle: DatabaseHandle,
  completions: readonly Completion[],
  hooks: CompletionHooks & FailureHooks = {},
  now: Date = new Date(),
  options: { readonly eager?: EagerClaimOptions } = {},
): Promise<CompleteResult> {
  const { unique, duplicates } = uniqueById(completions);
  if (unique.length === 0)
    return { completed: [], rejected: duplicates.map((c) => c.id), failed: [], claimed: [] };
  const stored = await storeOutputs(handle, unique);
  const eager = options.eager === undefined ? undefined : new EagerClaim(options.eager);
  const { results, failed } = await bisectFailures(
    unique,
    (batch) => recordBatch(handle, batch, stored, hooks, now, eager),
    { rethrow: isTransientDatabaseError },
  ).catch(async (error: unknown) => {
    // A batch recorded in halves may have committed some, with tasks taken, before one met the
    // database's passing trouble: the caller records the batch again and never gets those
    // tasks, so they go back to the queue now (else they would wait out the lease, a lease lost).
    if (eager !== undefined && eager.claimed.length > 0)
      await releaseTasks(
        handle,
        eager.workerId,
        eager.claimed.map(({ row }) => row.id),
        now,
      ).catch(() => undefined);
    throw error;
  });
  const completed = new Set<string>();
  for (const ids of results) for (const id of ids) completed.add(id);
  const unrecorded: CompleteResult['failed'] = [];
  for (const { item, error } of failed) {
    const message = `recording the result failed: ${messageOf(error)}`;
    const outcome = await failTask(
      handle,
      { id: item.id, leaseEpoch: item.leaseEpoch, error: message, code: COMPLETION_FAILED },
      { ...(hooks.onFailed === undefined ? {} : { onFailed: hooks.onFailed }) },
      { now },
    ).catch((): 'unrecorded' => 'unrecorded');
    unrecorded.push({ id: item.id, error: message, outcome });
  }
  const failedIds = new Set(unrecorded.map((f) => f.id));
  return {
    completed: unique.filter((c) => completed.has(c.id)).map((c) => c.id),
    rejected: [...unique.filter((c) => !completed.has(c.id) && !failedIds.has(c.id)), ...duplicates].map(
      (c) => c.id,
    ),
    failed: unrecorded,
    claimed: eager === undefined ? [] : takenTasks(eager),
  };
}

const claimedOnComplete = instruments.tasksClaimed.labels('on_complete');

/** What the eager claim took, as a claim returns it (and counted in its metrics). */
function takenTasks(eager: EagerClaim): ClaimedTask[] {
  const rows = eager.claimed.map(({ row, startedMs }) => {
    const wait = secondsSince(row.run_at, startedMs);
    if (wait !== null) instruments.taskWait.observe(wait);
    return row;
  });
  if (rows.length > 0) claimedOnComplete.inc(rows.length);
  return rows.sort(byClaimOrder).map(toClaimedTask);
}

/**
 * Records a batch, preparing it first if its hook asks to (PrepareFirstError): the hook's work
 * that must not hold locks is done outside the transaction, which is then tried again with it.
 * A preparation that fails leaves the hook to do that work in the transaction.
 */
async function recordBatch(
  handle: DatabaseHandle,
  batch: readonly Completion[],
  stored: ReadonlyMap<string, string>,
  hooks: CompletionHooks,
  now: Date,
  eager: EagerClaim | undefined,
): Promise<Set<string>> {
  if (hooks.prepareCompletedBatch === undefined)
    return completeBatch(handle, batch, stored, hooks, now, undefined, eager);
  try {
    return await completeBatch(handle, batch, stored, hooks, now, PREPARE_ON_REQUEST, eager);
  } catch (error) {
    if (!(error instanceof PrepareFirstError)) throw error;
  }
  const prepared = await hooks.prepareCompletedBatch(batch).catch(() => undefined);
  return completeBatch(handle, batch, stored, hooks, now, prepared, eager);
}

/** One transaction: completes the batch and runs the hooks; throws (rolled back) on any error. */
async function completeBatch(
  handle: DatabaseHandle,
  unique: readonly Completion[],
  stored: ReadonlyMap<string, string>,
  hooks: CompletionHooks,
  now: Date,
  prepared: unknown,
  eager: EagerClaim | undefined,
): Promise<Set<string>> {
  const record = (trx: Kysely<SwarmDatabase>) =>
    recordInTransaction(trx, handle.dialect, unique, stored, hooks, now, prepared);
  if (eager === undefined) return handle.dialect.writeTransaction(handle.db, record);
  const { result, taken } = await handle.dialect.writeTransaction(handle.db, (trx) =>
    eager.within(trx, () => record(trx)),
  );
  eager.accept(taken);
  return result;
}

/** The batch's completion and hooks, in transaction `trx`. */
async function recordInTransaction(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  unique: readonly Completion[],
  stored: ReadonlyMap<string, string>,
  hooks: CompletionHooks,
  now: Date,
  prepared: unknown,
): Promise<Set<string>> {
  const at = toDbTimestamp(now);
  const outputs = new Map(unique.map((c) => [c.id, c.output]));
  const rows = [];
  for (const chunk of inlineChunks(dialect, unique, DONE_COLUMNS)) {
    const done = inlineRows<DoneRow>(
      dialect,
      DONE_COLUMNS,
      chunk.map((c) => ({
        id: c.id,
        lease_epoch: c.leaseEpoch,
        output: stored.get(c.id) ?? inlineJson(c.output ?? null),
        duration_ms: c.durationMs === undefined ? null : Math.round(c.durationMs),
        status: 'RUNNING',
      })),
    );
    // No worker_assignments row: a completed attempt stays on the task row (assignments.ts).
    // Found by the batch's ids' primary key, the batch read once, whatever the statistics say
    // (inBatch, heldUnder).
    const statement = trx.with(
      (cte) => cte('done(id, lease_epoch, output, duration_ms, status)').materialized(),
      () => done,
    );
    const updated = await statement
      .updateTable('tasks')
      .from('done')
      .set((eb) => ({
        status: 'COMPLETED',
        result_data: eb.ref('done.output'),
        duration_ms: eb.ref('done.duration_ms'),
        completed_at: at,
        updated_at: at,
        error_message: null,
        error_code: null,
        locked_by: null,
        locked_until: null,
      }))
      .whereRef('tasks.id', '=', 'done.id')
      .where(
        inBatch(
          dialect,
          chunk.map((c) => c.id),
          'done',
        ),
      )
      .where(heldUnder('done'))
      .returning([
        'tasks.id',
        'tasks.owner_id',
        'tasks.run_id',
        'tasks.step_id',
        'tasks.item_index',
        'tasks.retry_count',
        'tasks.duration_ms',
        'tasks.scheduled_task_id',
        'tasks.chain_id',
        'tasks.parent_task_id',
        'tasks.assigned_agent_id',
        'tasks.agent_name',
        'tasks.agent_version',
      ])
      .execute();
    for (const row of updated) rows.push(row);
  }
  const parents = rows.flatMap((row) => (row.parent_task_id === null ? [] : [row.parent_task_id]));
  if (parents.length > 0) await wakeParents(trx, dialect, parents, at);
  if (hooks.onCompleted !== undefined || hooks.onCompletedBatch !== undefined) {
    // In completion order as given, so a hook sees a batch in the order the worker finished it.
    const order = new Map(unique.map((c, i) => [c.id, i]));
    rows.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
    const done = rows.map((row) => ({
      id: row.id,
      ownerId: row.owner_id,
      runId: row.run_id,
      stepId: row.step_id,
      itemIndex: row.item_index,
      attempt: row.retry_count + 1,
      output: outputs.get(row.id) ?? null,
      durationMs: row.duration_ms,
      scheduledTaskId: row.scheduled_task_id,
      chainId: row.chain_id,
      agent: { assignedAgentId: row.assigned_agent_id, name: row.agent_name, version: row.agent_version },
    }));
    if (hooks.onCompletedBatch !== undefined) {
      if (done.length > 0) await hooks.onCompletedBatch(trx, done, prepared);
    } else for (const task of done) await hooks.onCompleted!(trx, task);
  }
  return new Set(rows.map((row) => row.id));
}
