import { sql, type Kysely } from 'kysely';
import {
  TASKS_CHANNEL,
  type CompletedTask,
  type CompletionHooks,
  type FailedTask,
  type FailureHooks,
  type TaskHook,
} from '../queue/index.js';
import {
  fromDbJson,
  toDbBool,
  toDbJson,
  toDbText,
  toDbTimestamp,
  type DialectAdapter,
  type SwarmDatabase,
} from '../storage/index.js';
import { storeChainOutput } from './chain-values.js';
import { inputAfter, insertTask, type PreparedTask } from './prepare.js';
import { countScheduledOutcomes } from './scheduled.js';
import type { ChainStepResult } from './types.js';

/** A chain step as stored in `task_chains.steps`: prepared, with its own input kept apart. */
export interface StoredChainStep extends PreparedTask {
  readonly name?: string;
  readonly usePreviousOutput: boolean;
}

type Db = Kysely<SwarmDatabase>;

/** The error code of a task that will never run because a dependency did not complete. */
export const DEPENDENCY_FAILED = 'DEPENDENCY_FAILED';

/**
 * The blocked tasks of `ownerId` that wait for `taskId`, locked (PostgreSQL) so two
 * dependencies completing at once cannot both rewrite `blocked_by` from the same old value.
 */
async function waitingOn(trx: Db, dialect: DialectAdapter, ownerId: string, taskId: string) {
  let query = trx
    .selectFrom('tasks')
    .select(['id', 'blocked_by'])
    .where('owner_id', '=', ownerId)
    .where('status', '=', 'PENDING')
    .where('is_blocked', '=', toDbBool(true))
    // Ids are UUIDs: no LIKE wildcards in them. The JSON text holds each one in quotes.
    .where(sql<string>`cast(depends_on as text)`, 'like', `%"${taskId}"%`)
    .orderBy('id');
  if (dialect.capabilities.skipLocked) query = query.forUpdate();
  return query.execute();
}

/** Whether any owner of these tasks has a blocked task (one look in idx_tasks_owner_blocked). */
async function anyBlocked(trx: Db, tasks: readonly { ownerId: string }[]): Promise<boolean> {
  const found = await trx
    .selectFrom('tasks')
    .select('id')
    .where('owner_id', 'in', [...new Set(tasks.map((t) => t.ownerId))])
    .where('is_blocked', '=', toDbBool(true))
    .limit(1)
    .executeTakeFirst();
  return found !== undefined;
}

/**
 * Releases the tasks that waited for these completed tasks: each completed dependency leaves
 * `blocked_by`; a task with none left is unblocked and becomes claimable now. Returns the ids
 * released. Call it in the transaction that completed the tasks.
 */
export async function releaseDependents(
  trx: Db,
  dialect: DialectAdapter,
  completed: readonly Pick<CompletedTask, 'id' | 'ownerId'>[],
  now: Date = new Date(),
): Promise<string[]> {
  const released: string[] = [];
  const at = toDbTimestamp(now);
  for (const task of completed) {
    for (const row of await waitingOn(trx, dialect, task.ownerId, task.id)) {
      const left = (fromDbJson<string[]>(row.blocked_by) ?? []).filter((id) => id !== task.id);
      await trx
        .updateTable('tasks')
        .set({
          blocked_by: toDbJson(left),
          is_blocked: toDbBool(left.length > 0),
          ...(left.length === 0 ? { run_at: at } : {}),
          updated_at: at,
        })
        .where('id', '=', row.id)
        .execute();
      if (left.length === 0) released.push(row.id);
    }
  }
  if (released.length > 0) await dialect.notify(trx as unknown as Kysely<unknown>, TASKS_CHANNEL);
  return released;
}

/**
 * Fails, for good, the tasks that waited for these tasks (which ended without completing), and
 * those that waited for them in turn. Returns the ids failed.
 */
export async function failDependents(
  trx: Db,
  dialect: DialectAdapter,
  ended: readonly { id: string; ownerId: string; status: string }[],
  now: Date = new Date(),
): Promise<string[]> {
  const failed: string[] = [];
  const at = toDbTimestamp(now);
  const work = [...ended];
  for (let next = work.shift(); next !== undefined; next = work.shift()) {
    for (const row of await waitingOn(trx, dialect, next.ownerId, next.id)) {
      const error = `dependency ${next.id} ended ${next.status}`;
      await trx
        .updateTable('tasks')
        .set({
          status: 'FAILED',
          is_blocked: toDbBool(false),
          error_message: error,
          last_error: error,
          error_code: DEPENDENCY_FAILED,
          completed_at: at,
          updated_at: at,
        })
        .where('id', '=', row.id)
        .where('status', '=', 'PENDING')
        .execute();
      failed.push(row.id);
      work.push({ id: row.id, ownerId: next.ownerId, status: 'FAILED' });
    }
  }
  return failed;
}

async function chainTasks(trx: Db, ids: readonly string[]) {
  if (ids.length === 0) return [];
  return trx
    .selectFrom('tasks')
    .select(['id', 'owner_id', 'chain_id', 'result_data'])
    .where('id', 'in', [...ids])
    .where('chain_id', 'is not', null)
    .execute();
}

async function lockChain(trx: Db, dialect: DialectAdapter, chainId: string) {
  let query = trx.selectFrom('task_chains').selectAll().where('id', '=', chainId);
  if (dialect.capabilities.skipLocked) query = query.forUpdate();
  return query.executeTakeFirst();
}

/**
 * Moves the chains of these completed tasks on: the step's output is recorded, and the next step
 * is enqueued (its input is the previous output with `use_previous_output`), or the chain
 * completes with the last step's output as its result. Call it in the transaction that
 * completed the tasks, so a step's completion and the next step's task commit together.
 */
export async function advanceChains(
  trx: Db,
  dialect: DialectAdapter,
  completed: readonly Pick<CompletedTask, 'id' | 'output'>[],
  now: Date = new Date(),
): Promise<void> {
  const outputs = new Map(completed.map((t) => [t.id, t.output]));
  const at = toDbTimestamp(now);
  for (const task of await chainTasks(
    trx,
    completed.map((t) => t.id),
  )) {
    const chain = await lockChain(trx, dialect, task.chain_id!);
    if (chain === undefined || chain.status !== 'RUNNING') continue;
    const steps = fromDbJson<StoredChainStep[]>(chain.steps) ?? [];
    const results = fromDbJson<Record<string, ChainStepResult>>(chain.step_results) ?? {};
    const index = chain.current_step;
    if (results[String(index)]?.task_id !== task.id) continue;
    const output = outputs.get(task.id) ?? null;
    const stored = await storeChainOutput({ db: trx, dialect }, chain, index, output, task.result_data);
    results[String(index)] = { task_id: task.id, status: 'COMPLETED', output: stored };
    const next = steps[index + 1];
    if (next === undefined) {
      await trx
        .updateTable('task_chains')
        .set({
          status: 'COMPLETED',
          step_results: toDbJson(results),
          final_result: toDbJson(stored, 'final_result'),
          completed_at: at,
        })
        .where('id', '=', chain.id)
        .execute();
      continue;
    }
    const { name: _name, usePreviousOutput, ...prepared } = next;
    const id = await insertTask(trx, dialect, task.owner_id, prepared, {
      chainId: chain.id,
      input: usePreviousOutput ? inputAfter(output, prepared.input) : prepared.input,
    });
    results[String(index + 1)] = { task_id: id, status: 'PENDING' };
    await trx
      .updateTable('task_chains')
      .set({ current_step: index + 1, step_results: toDbJson(results) })
      .where('id', '=', chain.id)
      .execute();
  }
}

/**
 * Ends the chains of these tasks, which ended without completing: the chain ends FAILED (or
 * CANCELLED when the step was cancelled) with the step's error.
 */
export async function endChains(
  trx: Db,
  dialect: DialectAdapter,
  ended: readonly { id: string; status: string; error: string }[],
  now: Date = new Date(),
): Promise<void> {
  const byId = new Map(ended.map((t) => [t.id, t]));
  const at = toDbTimestamp(now);
  for (const task of await chainTasks(
    trx,
    ended.map((t) => t.id),
  )) {
    const chain = await lockChain(trx, dialect, task.chain_id!);
    if (chain === undefined || (chain.status !== 'RUNNING' && chain.status !== 'PENDING')) continue;
    const results = fromDbJson<Record<string, ChainStepResult>>(chain.step_results) ?? {};
    const index = chain.current_step;
    if (results[String(index)]?.task_id !== task.id) continue;
    const { status, error } = byId.get(task.id)!;
    results[String(index)] = { task_id: task.id, status, error };
    const steps = fromDbJson<StoredChainStep[]>(chain.steps) ?? [];
    const name = steps[index]?.name;
    await trx
      .updateTable('task_chains')
      .set({
        status: status === 'CANCELLED' ? 'CANCELLED' : 'FAILED',
        step_results: toDbJson(results),
        error_message: toDbText(
          `step ${index}${name === undefined ? '' : ` (${name})`} ended ${status}: ${error}`,
        ).slice(0, 512),
        completed_at: at,
      })
      .where('id', '=', chain.id)
      .execute();
  }
}

/**
 * The queue hooks of standalone tasks: dependencies released or failed, chains moved on, and the
 * counters of the schedules that submitted them (a failure counts only after its last attempt,
 * which is when the queue calls `onFailed`; a timeout is such a failure).
 */
export function standaloneTaskHooks(dialect: DialectAdapter): {
  onCompletedBatch: TaskHook<readonly CompletedTask[]>;
  onFailed: TaskHook<FailedTask>;
} {
  return {
    // Each step costs a statement only when it has something to do: a batch of plain tasks
    // (no dependents, no chain, no schedule) costs one indexed look for blocked tasks.
    onCompletedBatch: async (trx, tasks) => {
      const standalone = tasks.filter((t) => t.runId === null);
      if (standalone.length === 0) return;
      if (await anyBlocked(trx, standalone)) await releaseDependents(trx, dialect, standalone);
      const chained = standalone.filter((t) => t.chainId !== null);
      if (chained.length > 0) await advanceChains(trx, dialect, chained);
      await countScheduledOutcomes(trx, standalone, 'successful');
    },
    onFailed: async (trx, task) => {
      if (task.runId !== null) return;
      if (await anyBlocked(trx, [task])) await failDependents(trx, dialect, [task]);
      if (task.chainId !== null) await endChains(trx, dialect, [task]);
      await countScheduledOutcomes(trx, [task], 'failed');
    },
  };
}

/**
 * `base` (the engine's hooks) followed by the standalone tasks' hooks, in the same transaction.
 * The worker's wiring: `withTaskHooks({ onCompletedBatch: engine.onTasksCompleted, onFailed:
 * engine.onTaskFailed }, store.handle.dialect)`.
 */
export function withTaskHooks(
  base: CompletionHooks & FailureHooks,
  dialect: DialectAdapter,
): Required<Pick<CompletionHooks, 'onCompletedBatch'>> &
  Pick<CompletionHooks, 'prepareCompletedBatch'> &
  Required<Pick<FailureHooks, 'onFailed'>> {
  const tasks = standaloneTaskHooks(dialect);
  return {
    ...(base.prepareCompletedBatch === undefined
      ? {}
      : { prepareCompletedBatch: base.prepareCompletedBatch }),
    onCompletedBatch: async (trx, completed, prepared) => {
      if (base.onCompletedBatch !== undefined) await base.onCompletedBatch(trx, completed, prepared);
      else if (base.onCompleted !== undefined)
        for (const task of completed) await base.onCompleted(trx, task);
      await tasks.onCompletedBatch(trx, completed);
    },
    onFailed: async (trx, task) => {
      await base.onFailed?.(trx, task);
      await tasks.onFailed(trx, task);
    },
  };
}
