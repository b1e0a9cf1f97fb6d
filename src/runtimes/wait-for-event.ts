/**
 * builtin/wait_for_event: the `wait_for` step. The first attempt asks for an `event` waitpoint
 * and sleeps (no lease, no worker slot) until its timeout, or for good without one; the event
 * dispatcher settles the waitpoint with the first matching event and wakes the task (src/
 * triggers/waits.ts). The attempt that resumes it reads the outcome back and ends the step: the
 * event, or per `on_timeout` a failure (WAIT_TIMEOUT) or `{timed_out: true}`.
 */
import { compileExpression, MAX_LOOKBACK_MS, MAX_WAIT_TIMEOUT_MS, parseDuration } from '../registry/index.js';
import { RuntimeError } from './errors.js';
import { Sleep, type AgentInvocation, type RuntimeContext, type WaitpointOutcome } from './types.js';

/** The waitpoint's key within its task. */
export const WAIT_FOR_KEY = 'wait_for';

/** Without a timeout the task sleeps until the waitpoint is settled (queue's NEVER). */
const NEVER = new Date('9999-01-01T00:00:00.000Z');

export interface WaitForEventInput {
  readonly event: string;
  readonly source?: string;
  readonly match?: string;
  readonly timeout?: string;
  readonly lookback?: string;
  readonly on_timeout?: 'fail' | 'continue';
  readonly scope?: Record<string, unknown>;
}

export interface MatchedEvent {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  readonly payload: unknown;
  readonly created_at: string;
}

export type WaitForEventOutput =
  { readonly event: MatchedEvent; readonly waited_ms: number } | { readonly timed_out: true };

/** What the sleeping task keeps for the attempt that resumes it: the first attempt's plan. */
interface WaitState {
  readonly waiting_since: string;
  readonly timeout_at: string | null;
  readonly events_since: string | null;
}

export async function waitForEvent(
  input: WaitForEventInput,
  invocation: Pick<AgentInvocation, 'resumeState'>,
  context: Pick<RuntimeContext, 'log' | 'waitpoint'>,
  now: number = Date.now(),
): Promise<WaitForEventOutput | Sleep> {
  const plan = stateOf(invocation.resumeState) ?? planWait(input, now);
  if (invocation.resumeState !== undefined) {
    if (context.waitpoint === undefined)
      throw new RuntimeError('INTERNAL', 'builtin/wait_for_event needs a worker to read its waitpoint', {
        retryable: false,
      });
    const outcome = await context.waitpoint(WAIT_FOR_KEY);
    if (outcome !== null && outcome.status !== 'waiting') return settled(outcome, plan, input);
    // Woken while still waiting (nothing settled it): the same waitpoint, the same timeout.
  } else {
    const until = plan.timeout_at === null ? 'no timeout' : `until ${plan.timeout_at}`;
    context.log(
      'info',
      `waiting for event ${input.event}${input.source === undefined ? '' : ` from ${input.source}`} (${until})`,
    );
  }
  return new Sleep(plan.timeout_at === null ? NEVER : new Date(plan.timeout_at), plan, [], {
    key: WAIT_FOR_KEY,
    kind: 'event',
    spec: { match: input.match ?? null, scope: input.scope ?? {}, ...durations(input) },
    eventType: input.event,
    ...(input.source === undefined ? {} : { eventSource: input.source }),
    // Absent: the run's start, which the dispatcher reads (the runtime does not know it).
    ...(plan.events_since === null ? {} : { eventsSince: new Date(plan.events_since) }),
    ...(plan.timeout_at === null ? {} : { timeoutAt: new Date(plan.timeout_at) }),
    onTimeout: input.on_timeout ?? 'fail',
  });
}

/** Checks the input once, on the first attempt: a bad one fails the step without a retry. */
function planWait(input: WaitForEventInput, now: number): WaitState {
  const timeout = input.timeout === undefined ? null : parseDuration(input.timeout, MAX_WAIT_TIMEOUT_MS);
  if (typeof timeout === 'string') throw RuntimeError.invalidInput('input.timeout', timeout);
  const lookback = input.lookback === undefined ? null : parseDuration(input.lookback, MAX_LOOKBACK_MS);
  if (typeof lookback === 'string') throw RuntimeError.invalidInput('input.lookback', lookback);
  if (input.match !== undefined) {
    try {
      compileExpression(input.match);
    } catch (error) {
      throw RuntimeError.invalidInput(
        'input.match',
        `expression does not parse: ${(error as Error).message}`,
      );
    }
  }
  return {
    waiting_since: new Date(now).toISOString(),
    timeout_at: timeout === null ? null : new Date(now + timeout).toISOString(),
    events_since: lookback === null ? null : new Date(now - lookback).toISOString(),
  };
}

function settled(outcome: WaitpointOutcome, plan: WaitState, input: WaitForEventInput): WaitForEventOutput {
  if (outcome.status === 'resolved') {
    const event = (outcome.result as { event?: MatchedEvent } | null)?.event;
    if (event === undefined)
      throw new RuntimeError('INTERNAL', 'the wait was settled without an event', { retryable: false });
    const at = outcome.resolvedAt === null ? Date.now() : Date.parse(outcome.resolvedAt);
    return { event, waited_ms: Math.max(0, Math.round(at - Date.parse(plan.waiting_since))) };
  }
  if (outcome.status === 'timed_out') {
    if (outcome.onTimeout === 'continue') return { timed_out: true };
    throw new RuntimeError(
      'WAIT_TIMEOUT',
      `no ${input.event} event${input.source === undefined ? '' : ` from ${input.source}`}${input.match === undefined ? '' : ' matching'} came within ${input.timeout ?? 'its timeout'}`,
      { retryable: false, context: { event: input.event, timeout: input.timeout ?? null } },
    );
  }
  // Cancelled with its run: the task is cancelled too, and this attempt's end is refused anyway.
  throw new RuntimeError('CONFLICT', 'the wait was cancelled with its run', { retryable: false });
}

function durations(input: WaitForEventInput): Record<string, string> {
  return {
    ...(input.timeout === undefined ? {} : { timeout: input.timeout }),
    ...(input.lookback === undefined ? {} : { lookback: input.lookback }),
  };
}

function stateOf(value: unknown): WaitState | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const state = value as Partial<WaitState>;
  if (typeof state.waiting_since !== 'string' || Number.isNaN(Date.parse(state.waiting_since)))
    return undefined;
  return {
    waiting_since: state.waiting_since,
    timeout_at: typeof state.timeout_at === 'string' ? state.timeout_at : null,
    events_since: typeof state.events_since === 'string' ? state.events_since : null,
  };
}
