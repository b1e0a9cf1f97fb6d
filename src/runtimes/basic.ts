/** The small builtins: noop, transform, condition, emit_event (delay has its own file). */
import type { AgentInvocation, RuntimeContext } from './types.js';

export function noop(): Record<string, never> {
  return {};
}

/** The step's input mapping did the work; the output is the resolved input itself. */
export function transform(input: unknown): unknown {
  return input;
}

/**
 * JSONata's effective boolean value (its `$boolean`), so `builtin/condition` agrees with a
 * `when` written on the same value: false, 0, "", null, undefined, [], {} and arrays whose
 * members are all false are false; everything else is true.
 */
export function isTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(isTruthy);
  if (typeof value === 'string') return value.length > 0;
  if (typeof value === 'number') return value !== 0 && !Number.isNaN(value);
  if (typeof value === 'boolean') return value;
  if (value !== null && typeof value === 'object') return Object.keys(value).length > 0;
  return false; // null, undefined, functions
}

export function condition(input: { value?: unknown }): { result: boolean } {
  return { result: isTruthy(input.value) };
}

/**
 * Keyed by the task, not the attempt: if a worker dies after publishing but before recording
 * the step as done, the retry finds the same event instead of starting its workflows twice.
 */
export async function emitEvent(
  input: { source: string; type: string; payload?: unknown },
  invocation: AgentInvocation,
  context: RuntimeContext,
): Promise<{ event_id: string }> {
  const eventId = await context.events.publish({
    ownerId: invocation.ownerId,
    source: input.source,
    type: input.type,
    payload: input.payload ?? null,
    runId: invocation.runId,
    taskId: invocation.taskId,
    idempotencyKey: `task:${invocation.taskId}`,
  });
  context.log('info', `emitted event ${input.source}/${input.type}`, { event_id: eventId });
  return { event_id: eventId };
}
