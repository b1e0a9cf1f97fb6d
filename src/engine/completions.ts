import type { Kysely } from 'kysely';
import type { NewTask, PendingCompletion } from '../queue/index.js';
import type { NormalizedWorkflow } from '../registry/index.js';
import type { DialectAdapter, SwarmDatabase } from '../storage/index.js';
import { planReadySteps, type PlanLimits, type RunOutcome } from './advance.js';
import { decideConsensus, memberLookup, type ConsensusOutcome, type ConsensusRecord } from './consensus.js';
import { readItemOutputs } from './fan-in.js';
import { parseHandlerStepId, planHandlers } from './handlers.js';
import { allSettled, readySteps } from './plan.js';
import {
  endingOf,
  frameOf,
  readFrames,
  triggersOf,
  type LockedRun,
  statusesOf,
  type FrameRow,
  type StoredRun,
} from './run-state.js';

/**
 * Completing steps happens in two halves, so that no lock is held while expressions evaluate
 * (each may take up to SWARM_EXPR_TIMEOUT_MS, and on SQLite the write lock stops every other
 * query of the process, /healthz's included):
 *
 * 1. `prepareCompletions`, before the completion's transaction and holding nothing: reads the
 *    runs the batch moves, applies the completions to its own copy of each, and plans what
 *    follows (inputs, `when`, `for_each`, and the handlers of a run that ends).
 * 2. `onTasksCompleted`, in the transaction: locks the runs, and for each whose row is as it was
 *    read and whose tasks in the batch are the ones prepared (`RunPlan.matches`), writes the plan
 *    as it is. Any other run (changed meanwhile by another batch, or a task whose lease was lost)
 *    is worked out there, as before: correct, only slower.
 */
export class CompletionPlans {
  constructor(readonly runs: ReadonlyMap<string, RunPlan>) {}
}

/** One run's prepared completion: what it was worked out from, and what it came to. */
export interface RunPlan {
  /** The run's row as read: `step_results`, `handlers` (text as stored) and `attempt`. */
  readonly read: Pick<FrameRow, 'step_results' | 'handlers' | 'attempt'>;
  /** The batch's tasks of this run, sorted (taskKey). */
  readonly tasks: string;
  /** The tasks that moved their step (each gets a metric). */
  readonly moved: ReadonlySet<string>;
  readonly before: Record<string, string>;
  /** The run with the completions applied and its next steps planned. */
  readonly run: StoredRun;
  readonly outcome: RunOutcome;
  readonly released: NewTask[];
  /** The tasks of the run's handlers when it ends (its `handlers` marked accordingly). */
  readonly handlerTasks?: NewTask[];
  /** The consensus decisions the batch made, to record in the transaction. */
  readonly consensus: readonly ConsensusRecord[];
}

/** A run's tasks in a batch, as one comparable key. */
export function taskKey(ids: Iterable<string>): string {
  return [...ids].sort().join(',');
}

/** Whether a plan still holds for the run's locked row and the batch's tasks of it. */
export function planMatches(plan: RunPlan, row: FrameRow, taskIds: Iterable<string>): boolean {
  return (
    row.status === 'running' &&
    row.attempt === plan.read.attempt &&
    row.step_results === plan.read.step_results &&
    row.handlers === plan.read.handlers &&
    taskKey(taskIds) === plan.tasks
  );
}

/** A completed task as applying it needs it. */
export interface AppliedTask {
  readonly id: string;
  readonly stepId: string;
  readonly output: unknown;
}

/**
 * Applies a batch's tasks of one run to its steps (mutating them): a running step completes
 * with its task's output; a for_each step counts its item and, with the last, completes with the
 * items' outputs (`fanIn`). Returns the ids of the tasks that moved their step.
 */
export async function applyCompletions(
  run: StoredRun,
  tasks: readonly AppliedTask[],
  now: string,
  fanIn: (stepId: string) => Promise<unknown[]>,
): Promise<Set<string>> {
  const moved = new Set<string>();
  for (const task of tasks) {
    const state = run.steps[task.stepId];
    if (state === undefined || state.status !== 'running') continue;
    moved.add(task.id);
    if (state.items === undefined) {
      Object.assign(state, { status: 'completed', output: task.output ?? null, completed_at: now });
      continue;
    }
    state.items.done += 1;
    if (state.items.done === state.items.total)
      Object.assign(state, { status: 'completed', output: await fanIn(task.stepId), completed_at: now });
  }
  return moved;
}

/** The batch's task of each step it completed (a consensus record names its aggregate task). */
export function taskOfStep(tasks: readonly AppliedTask[]): Map<string, string> {
  return new Map(tasks.map((t) => [t.stepId, t.id]));
}

/**
 * What follows completions once their consensus steps are decided: a decision that failed its
 * step fails the run, as a failed task would (nothing more released); otherwise planReadySteps.
 */
export async function planAfterConsensus(
  run: StoredRun,
  limits: PlanLimits,
  decided: ConsensusOutcome,
  options: Parameters<typeof planReadySteps>[2] = {},
): Promise<{ outcome: RunOutcome; tasks: NewTask[] }> {
  if (decided.failure !== undefined) return { outcome: decided.failure, tasks: [] };
  return planReadySteps(run, limits, options);
}

/** Whether a run whose steps moved releases a step or ends: then it needs its trigger data. */
export function isMoving(run: StoredRun): boolean {
  return readySteps(run.workflow, run.steps).length > 0 || allSettled(run.steps);
}

/**
 * The first half (see CompletionPlans): plans of the runs `completions` move, read and worked
 * out without a transaction. Completions that do not say which run they belong to, and tasks
 * of handlers, are left to the transaction.
 */
export async function prepareCompletions(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  definitions: Map<string, NormalizedWorkflow>,
  limits: PlanLimits,
  completions: readonly PendingCompletion[],
): Promise<CompletionPlans | undefined> {
  const byRun = new Map<string, Array<AppliedTask & { itemIndex: number | null }>>();
  for (const c of completions) {
    if (typeof c.runId !== 'string' || typeof c.stepId !== 'string') continue;
    if (parseHandlerStepId(c.stepId) !== null) continue;
    const list = byRun.get(c.runId) ?? [];
    list.push({ id: c.id, stepId: c.stepId, output: c.output, itemIndex: c.itemIndex ?? null });
    byRun.set(c.runId, list);
  }
  if (byRun.size === 0) return undefined;
  const now = new Date().toISOString();
  const plans = new Map<string, RunPlan>();
  const pending: Array<
    Omit<RunPlan, 'outcome' | 'released' | 'consensus'> & { row: LockedRun; decided: ConsensusOutcome }
  > = [];
  for (const row of await readFrames(db, dialect, [...byRun.keys()], { lock: false })) {
    if (row.status !== 'running') continue;
    const tasks = byRun.get(row.id)!;
    const run = await frameOf(db, { ...row, trigger_data: null }, definitions);
    const before = statusesOf(run.steps);
    // This batch's items are not in the table as completed yet: their outputs come from here.
    const fanIn = (stepId: string) =>
      readItemOutputs(
        db,
        row.id,
        stepId,
        tasks.filter((t) => t.stepId === stepId && t.itemIndex !== null),
      );
    const moved = await applyCompletions(run, tasks, now, fanIn);
    if (moved.size === 0) continue;
    const decided = await decideConsensus(run, before, taskOfStep(tasks), memberLookup(db));
    const read = { step_results: row.step_results, handlers: row.handlers, attempt: row.attempt };
    pending.push({ read, tasks: taskKey(tasks.map((t) => t.id)), moved, before, run, row, decided });
  }
  const moving = pending.filter((p) => isMoving(p.run));
  const triggers = await triggersOf(
    db,
    dialect,
    moving.map((p) => p.row),
  );
  for (const { row: _row, decided, ...prepared } of pending) {
    const run: StoredRun = triggers.has(prepared.run.id)
      ? { ...prepared.run, trigger: triggers.get(prepared.run.id) }
      : prepared.run;
    const { outcome, tasks: released } = await planAfterConsensus(run, limits, decided);
    const handlerTasks =
      outcome.status !== 'running' && run.handlers !== null
        ? await planHandlers(run, run.handlers, endingOf(outcome), now)
        : undefined;
    plans.set(run.id, {
      ...prepared,
      run,
      outcome,
      released,
      ...(handlerTasks === undefined ? {} : { handlerTasks }),
      consensus: decided.records,
    });
  }
  return plans.size === 0 ? undefined : new CompletionPlans(plans);
}
