import type { Kysely } from 'kysely';
import { resolveInput, type AgentRegistry, type NormalizedWorkflow } from '../registry/index.js';
import { enqueueTasks, type NewTask } from '../queue/index.js';
import { SwarmError } from '../errors/index.js';
import { NeedsThreadError, type EvaluateOptions } from '../expressions/index.js';
import type { DialectAdapter, SwarmDatabase } from '../storage/index.js';
import { runTraceparent } from '../telemetry/index.js';
import { expressionContext, type RunSteps } from './plan.js';

export type HandlerKind = 'on_error' | 'on_success';

/** One on_error / on_success handler of a run: its agent pinned at run start, and how it went. */
export interface HandlerState {
  readonly kind: HandlerKind;
  readonly index: number;
  readonly agent: string;
  readonly version: string;
  status: 'waiting' | 'running' | 'completed' | 'failed' | 'skipped';
  output?: unknown;
  error?: string;
  completed_at?: string;
}

/** A handler's task carries this step id; `[` cannot occur in a step id, so none is mistaken for a step. */
export function handlerStepId(kind: HandlerKind, index: number): string {
  return `${kind}[${index}]`;
}

export function parseHandlerStepId(stepId: string): { kind: HandlerKind; index: number } | null {
  const match = /^(on_error|on_success)\[(\d+)\]$/.exec(stepId);
  return match === null ? null : { kind: match[1] as HandlerKind, index: Number(match[2]) };
}

/** Resolves the handlers' agent ranges when a run starts, as its steps' are: a run is pinned. */
export async function pinHandlers(
  workflow: NormalizedWorkflow,
  agents: AgentRegistry,
): Promise<HandlerState[] | null> {
  const resolver = agents.resolver();
  const states: HandlerState[] = [];
  for (const kind of ['on_error', 'on_success'] as const) {
    for (const [index, handler] of (workflow[kind] ?? []).entries()) {
      const resolved = await resolver.resolve(handler.agent.name, handler.agent.range);
      if (resolved === null)
        throw new SwarmError(
          'CONFLICT',
          `${kind}[${index}]: no usable version of ${handler.agent.name} satisfies ${handler.agent.range} any more`,
        );
      states.push({ kind, index, agent: handler.agent.name, version: resolved.version, status: 'waiting' });
    }
  }
  return states.length === 0 ? null : states;
}

/** How a run ended, as its handlers see it under `run`. */
export interface RunEnding {
  readonly status: 'completed' | 'failed' | 'timeout';
  readonly error: string | null;
  readonly errorStep: string | null;
}

/**
 * When a run ends: on_success handlers run if it completed, on_error handlers if it failed or
 * timed out; the others are skipped. Each runs as a task of the run (one attempt and two
 * retries), in the transaction that ends the run. A handler whose input cannot be resolved
 * fails at once; it never changes the run's own outcome.
 */
export async function releaseHandlers(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  run: HandlerRun,
  handlers: HandlerState[],
  ending: RunEnding,
  now: string,
): Promise<void> {
  const tasks = await planHandlers(run, handlers, ending, now);
  if (tasks.length > 0) await enqueueTasks(trx, dialect, tasks);
}

/** What working out a run's handlers reads of it. */
export interface HandlerRun {
  id: string;
  ownerId: string;
  workflowName: string;
  attempt: number;
  trigger: unknown;
  workflow: NormalizedWorkflow;
  steps: RunSteps;
  /** The run span's trace context (src/telemetry); its handlers' attempts are its children too. */
  traceContext?: string | null;
  /** A fork's root run: its handlers' idempotency keys are the original's too. */
  originalRunId?: string | null;
}

/**
 * The tasks of the handlers due at the run's end, their inputs resolved; marks each handler
 * running, skipped or failed (an input that cannot be resolved). Reads and writes nothing, so it
 * can be worked out before the transaction that ends the run.
 */
export async function planHandlers(
  run: HandlerRun,
  handlers: HandlerState[],
  ending: RunEnding,
  now: string,
  options: EvaluateOptions = {},
): Promise<NewTask[]> {
  const due: HandlerKind = ending.status === 'completed' ? 'on_success' : 'on_error';
  const context = expressionContext(
    {
      id: run.id,
      workflow: run.workflowName,
      attempt: run.attempt,
      trigger: run.trigger,
      variables: run.workflow.variables,
    },
    run.steps,
  );
  context.run = {
    ...(context.run as object),
    status: ending.status,
    error: ending.error,
    error_step: ending.errorStep,
  };
  const tasks: NewTask[] = [];
  for (const handler of handlers) {
    if (handler.status !== 'waiting') continue;
    if (handler.kind !== due) {
      Object.assign(handler, { status: 'skipped', completed_at: now });
      continue;
    }
    const spec = run.workflow[handler.kind]?.[handler.index];
    try {
      const input = await resolveInput(spec?.input ?? {}, context, options);
      tasks.push({
        ownerId: run.ownerId,
        runId: run.id,
        stepId: handlerStepId(handler.kind, handler.index),
        agentName: handler.agent,
        agentVersion: handler.version,
        taskType: 'handler',
        input,
        runAt: now,
        maxRetries: 2,
        retryPolicy: { backoff: 'exponential', initialDelayMs: 1000, maxDelayMs: 30_000, jitter: true },
        ...(run.traceContext == null ? {} : { traceContext: runTraceparent(run.traceContext) }),
        ...(run.originalRunId == null ? {} : { idempotencyRunId: run.originalRunId }),
      });
      handler.status = 'running';
    } catch (error) {
      if (error instanceof NeedsThreadError) throw error;
      Object.assign(handler, {
        status: 'failed',
        error: `input of ${handlerStepId(handler.kind, handler.index)} failed: ${(error as Error).message}`,
        completed_at: now,
      });
    }
  }
  return tasks;
}
