import type { Kysely } from 'kysely';
import {
  compileExpression,
  resolveInput,
  type NormalizedStep,
  type NormalizedWorkflow,
} from '../registry/index.js';
import { NeedsThreadError, type EvaluateOptions } from '../expressions/index.js';
import { enqueueTasks, messageOf, type NewTask } from '../queue/index.js';
import type { DialectAdapter, SwarmDatabase } from '../storage/index.js';
import { runTraceparent } from '../telemetry/index.js';
import { stepFlowLimits } from './flow.js';
import { allSettled, expressionContext, readySteps, type RunSteps } from './plan.js';

/** What advancing needs to know about a run, read under its lock. */
export interface RunFrame {
  readonly id: string;
  readonly ownerId: string;
  readonly workflowName: string;
  readonly attempt: number;
  readonly trigger: unknown;
  readonly workflow: NormalizedWorkflow;
  readonly steps: RunSteps;
  /**
   * The run span's trace context (workflow_runs.trace_context, src/telemetry/run-trace.ts): its
   * tasks carry the span's traceparent. Null or absent when tracing was off at the run's start.
   */
  readonly traceContext?: string | null;
  /**
   * A fork's root run (workflow_runs.original_run_id): its tasks carry it, so their attempts'
   * idempotency keys are the original's. Null or absent for an ordinary run.
   */
  readonly originalRunId?: string | null;
}

export type RunOutcome =
  | { status: 'running' }
  | { status: 'completed'; result: Record<string, unknown> }
  | { status: 'failed'; error: string; step: string };

/** The most items a `for_each` fans out to unless configured otherwise (SWARM_MAX_FAN_OUT). */
export const DEFAULT_MAX_FAN_OUT = 100_000;

/** What bounds the release of steps. */
export interface PlanLimits {
  /** The most items one `for_each` may fan out to; more fails the step. */
  readonly maxFanOut: number;
}

/** The field of a step whose evaluation failed. */
export type StepField = 'input' | 'when' | 'for_each' | 'concurrency';

/**
 * Why a step could not be released: which step, which of its fields, and what went wrong.
 * `message` is `<field> of step "<id>" <reason>`, as the run records it.
 */
export interface StepFailure {
  readonly step: string;
  readonly field: StepField;
  readonly reason: string;
  readonly message: string;
}

/** A step failed while being released (an expression that throws, a for_each that is no list). */
class StepError extends Error {
  constructor(
    readonly step: string,
    readonly field: StepField,
    readonly reason: string,
  ) {
    super(`${field} of step "${step}" ${reason}`);
  }
}

/**
 * Evaluates one of a step's expressions: any error (jsonata's, a limit's) fails the step, but
 * NeedsThreadError, which is no error of the step's (see planReadySteps' `inlineOnly`).
 */
async function evaluate<T>(step: string, field: StepField, evaluation: () => Promise<T>): Promise<T> {
  try {
    return await evaluation();
  } catch (error) {
    if (error instanceof NeedsThreadError) throw error;
    throw new StepError(step, field, `failed: ${messageOf(error)}`);
  }
}

/** A step's resolved input (an object: a mapping is one, whatever its templates give). */
const stepInput = (
  step: NormalizedStep,
  context: Record<string, unknown>,
  options: EvaluateOptions,
): Promise<unknown> => evaluate(step.id, 'input', () => resolveInput(step.input, context, options));

/** A task's flow limits, its keys evaluated over the task's data (src/engine/flow.ts). */
const taskFlow = (
  frame: RunFrame,
  step: NormalizedStep,
  context: Record<string, unknown>,
  options: EvaluateOptions,
) =>
  evaluate(step.id, 'concurrency', () =>
    stepFlowLimits(frame.ownerId, frame.workflowName, step, context, options),
  );

/** What every task of a step shares; each task adds its input (and an item its index). */
function taskBase(frame: RunFrame, step: NormalizedStep, now: string): Omit<NewTask, 'input'> {
  return {
    ownerId: frame.ownerId,
    runId: frame.id,
    stepId: step.id,
    ...(step.agent === undefined
      ? {}
      : {
          agentName: step.agent.name,
          agentVersion: frame.steps[step.id]?.agent_version ?? step.agent.range,
        }),
    ...(step.capability === undefined
      ? {}
      : { capability: step.capability.name, routing: step.capability.routing }),
    taskType: 'step',
    priority: step.priority,
    runAt: now,
    maxRetries: step.retry.max_attempts - 1,
    retryPolicy: {
      backoff: step.retry.backoff,
      initialDelayMs: step.retry.initial_delay_ms,
      maxDelayMs: step.retry.max_delay_ms,
      jitter: step.retry.jitter,
    },
    ...(step.timeout_seconds === undefined ? {} : { timeoutSeconds: step.timeout_seconds }),
    ...(frame.traceContext == null ? {} : { traceContext: runTraceparent(frame.traceContext) }),
    ...(frame.originalRunId == null ? {} : { idempotencyRunId: frame.originalRunId }),
  };
}

/**
 * Releases every step whose needs are met and enqueues their tasks in the caller's
 * transaction, so completing a task and releasing what follows it is one commit.
 */
export async function releaseReadySteps(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  frame: RunFrame,
  limits: PlanLimits,
): Promise<RunOutcome> {
  const { outcome, tasks } = await planReadySteps(frame, limits);
  if (tasks.length > 0) await enqueueTasks(trx, dialect, tasks);
  return outcome;
}

/**
 * Works out which steps' needs are met: skips them (by `when`, or because all their needs were
 * skipped) or starts them, fanning `for_each` out into one task per item. Mutates `frame.steps`;
 * returns where the run now stands and the tasks to enqueue (the caller enqueues them, so a
 * batch of completions across many runs enqueues with one statement).
 *
 * Never throws: whatever goes wrong while working out a step (an expression's error or limit,
 * a for_each that is no list or has more than `limits.maxFanOut` items, anything unforeseen)
 * fails that step and the run, and `failure` names the step and field. One run's trouble must
 * stay that run's: this runs in the completion hook of a batch holding other owners' tasks.
 * The one exception: with `options.inlineOnly`, an expression that needs an evaluator thread
 * throws NeedsThreadError (frame.steps then half worked out: the caller discards the frame).
 */
export async function planReadySteps(
  frame: RunFrame,
  limits: PlanLimits,
  options: EvaluateOptions = {},
): Promise<{ outcome: RunOutcome; tasks: NewTask[]; failure?: StepFailure }> {
  const now = new Date().toISOString();
  const run = {
    id: frame.id,
    workflow: frame.workflowName,
    attempt: frame.attempt,
    trigger: frame.trigger,
    variables: frame.workflow.variables,
  };
  const tasks: NewTask[] = [];
  // The step and field being worked out: what an unforeseen error is blamed on.
  let at: { step: string; field: StepField } | null = null;
  try {
    for (
      let ready = readySteps(frame.workflow, frame.steps);
      ready.length > 0;
      ready = readySteps(frame.workflow, frame.steps)
    ) {
      for (const { step, skip } of ready) {
        const state = frame.steps[step.id]!;
        const context = expressionContext(run, frame.steps);
        const when = step.when;
        at = { step: step.id, field: 'when' };
        if (
          skip ||
          (when !== undefined &&
            !(await evaluate(step.id, 'when', () => compileExpression(when).evaluate(context, options))))
        ) {
          Object.assign(state, { status: 'skipped', completed_at: now });
          continue;
        }
        state.started_at = now;
        const base = taskBase(frame, step, now);
        const forEach = step.for_each;
        if (forEach === undefined) {
          at = { step: step.id, field: 'input' };
          const input = await stepInput(step, context, options);
          at = { step: step.id, field: 'concurrency' };
          const flow = await taskFlow(frame, step, context, options);
          tasks.push(flow === undefined ? { ...base, input } : { ...base, input, flow });
          state.status = 'running';
          continue;
        }
        at = { step: step.id, field: 'for_each' };
        const list = await evaluate(step.id, 'for_each', () =>
          compileExpression(forEach).evaluate(context, options),
        );
        if (!Array.isArray(list))
          throw new StepError(
            step.id,
            'for_each',
            `is not a list (got ${list === undefined ? 'nothing' : typeof list})`,
          );
        if (list.length > limits.maxFanOut)
          throw new StepError(
            step.id,
            'for_each',
            `has ${list.length} items, more than SWARM_MAX_FAN_OUT (${limits.maxFanOut})`,
          );
        if (list.length === 0) {
          Object.assign(state, {
            status: 'completed',
            output: [],
            items: { total: 0, done: 0 },
            completed_at: now,
          });
          continue;
        }
        at = { step: step.id, field: 'input' };
        // One plain loop: nothing recurses or spreads over the list, so any length the cap
        // allows costs memory in proportion to it, never stack.
        for (let index = 0; index < list.length; index++) {
          const itemContext = { ...context, item: list[index], index };
          const input = await stepInput(step, itemContext, options);
          const flow =
            step.flow === undefined ? undefined : await taskFlow(frame, step, itemContext, options);
          // Object.assign, not a spread: V8 makes a spread copy of this many properties a
          // dictionary, about 600 bytes a task against 200 (600 MB for a million items).
          tasks.push(
            Object.assign(
              {},
              base,
              flow === undefined ? { itemIndex: index, input } : { itemIndex: index, input, flow },
            ),
          );
        }
        Object.assign(state, { status: 'running', items: { total: list.length, done: 0 } });
      }
    }
  } catch (error) {
    if (error instanceof NeedsThreadError) throw error;
    const failed =
      error instanceof StepError
        ? error
        : new StepError(at?.step ?? '?', at?.field ?? 'input', `failed: ${messageOf(error)}`);
    const failure = {
      step: failed.step,
      field: failed.field,
      reason: failed.reason,
      message: failed.message,
    };
    const state = frame.steps[failed.step];
    if (state !== undefined)
      Object.assign(state, { status: 'failed', error: failed.message, completed_at: now });
    // The run fails: none of the tasks released with the failing step may run.
    return { outcome: { status: 'failed', error: failed.message, step: failed.step }, tasks: [], failure };
  }
  if (!allSettled(frame.steps)) return { outcome: { status: 'running' }, tasks };
  return { outcome: { status: 'completed', result: leafOutputs(frame) }, tasks };
}

/** A finished run's result: the outputs of the steps nothing else needs (the DAG's leaves). */
function leafOutputs(frame: RunFrame): Record<string, unknown> {
  const needed = new Set(frame.workflow.steps.flatMap((s) => s.needs));
  return Object.fromEntries(
    frame.workflow.steps
      .filter((s) => !needed.has(s.id))
      .map((s) => [s.id, frame.steps[s.id]?.status === 'completed' ? frame.steps[s.id]!.output : null]),
  );
}
