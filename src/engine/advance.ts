import type { Kysely } from 'kysely';
import {
  compileExpression,
  resolveInput,
  type NormalizedStep,
  type NormalizedWorkflow,
} from '../registry/index.js';
import { enqueueTasks, type NewTask } from '../queue/index.js';
import type { DialectAdapter, SwarmDatabase } from '../storage/index.js';
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
}

export type RunOutcome =
  | { status: 'running' }
  | { status: 'completed'; result: Record<string, unknown> }
  | { status: 'failed'; error: string; step: string };

/** A step failed while being released (an expression that throws, a for_each that is no list). */
class StepError extends Error {
  constructor(
    readonly step: string,
    message: string,
  ) {
    super(message);
  }
}

async function evaluate(
  expression: string,
  context: Record<string, unknown>,
  step: string,
  what: string,
): Promise<unknown> {
  try {
    return await compileExpression(expression).evaluate(context);
  } catch (error) {
    throw new StepError(step, `${what} of step "${step}" failed: ${(error as Error).message}`);
  }
}

function taskOf(
  frame: RunFrame,
  step: NormalizedStep,
  input: unknown,
  itemIndex: number | null,
  now: string,
): NewTask {
  return {
    ownerId: frame.ownerId,
    runId: frame.id,
    stepId: step.id,
    ...(itemIndex === null ? {} : { itemIndex }),
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
    input,
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
): Promise<RunOutcome> {
  const { outcome, tasks } = await planReadySteps(frame);
  if (tasks.length > 0) await enqueueTasks(trx, dialect, tasks);
  return outcome;
}

/**
 * Works out which steps' needs are met: skips them (by `when`, or because all their needs were
 * skipped) or starts them, fanning `for_each` out into one task per item. Mutates `frame.steps`;
 * returns where the run now stands and the tasks to enqueue (the caller enqueues them, so a
 * batch of completions across many runs enqueues with one statement).
 */
export async function planReadySteps(frame: RunFrame): Promise<{ outcome: RunOutcome; tasks: NewTask[] }> {
  const now = new Date().toISOString();
  const run = {
    id: frame.id,
    workflow: frame.workflowName,
    attempt: frame.attempt,
    trigger: frame.trigger,
    variables: frame.workflow.variables,
  };
  const tasks: NewTask[] = [];
  try {
    for (
      let ready = readySteps(frame.workflow, frame.steps);
      ready.length > 0;
      ready = readySteps(frame.workflow, frame.steps)
    ) {
      for (const { step, skip } of ready) {
        const state = frame.steps[step.id]!;
        const context = expressionContext(run, frame.steps);
        if (skip || (step.when !== undefined && !(await evaluate(step.when, context, step.id, 'when')))) {
          Object.assign(state, { status: 'skipped', completed_at: now });
          continue;
        }
        state.started_at = now;
        if (step.for_each === undefined) {
          tasks.push(taskOf(frame, step, await resolveInput(step.input, context), null, now));
          state.status = 'running';
          continue;
        }
        const list = await evaluate(step.for_each, context, step.id, 'for_each');
        if (!Array.isArray(list))
          throw new StepError(
            step.id,
            `for_each of step "${step.id}" is not a list (got ${list === undefined ? 'nothing' : typeof list})`,
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
        for (const [index, item] of list.entries()) {
          const itemContext = expressionContext(run, frame.steps, { item, index });
          tasks.push(taskOf(frame, step, await resolveInput(step.input, itemContext), index, now));
        }
        Object.assign(state, { status: 'running', items: { total: list.length, done: 0 } });
      }
    }
  } catch (error) {
    if (!(error instanceof StepError)) throw error;
    Object.assign(frame.steps[error.step]!, { status: 'failed', error: error.message, completed_at: now });
    // The run fails: none of the tasks released with the failing step may run.
    return { outcome: { status: 'failed', error: error.message, step: error.step }, tasks: [] };
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
