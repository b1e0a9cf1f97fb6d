/**
 * builtin/delay: waits without holding a worker. The first attempt works out when the wait is
 * due and answers `Sleep` (the worker puts the task back on the queue with `run_at` = due, so no
 * slot stays taken, and the due time is kept in the task row); the attempt that resumes it once
 * due — on any worker, after any restart — reads the due time back and completes. A wait that is
 * already over completes at once.
 *
 * The sleep is a `sleep` waitpoint like every other wait (timeout = due, on_timeout continue):
 * it shows in what its run waits for, and is cancelled with its run. Nothing resolves it; the
 * resumed attempt settles it as timed out when it reads it back.
 */
import { RuntimeError } from './errors.js';
import { Sleep, type AgentInvocation, type RuntimeContext } from './types.js';

/** The sleep's waitpoint key within its task. */
export const SLEEP_KEY = 'sleep';

export interface DelayInput {
  /** Wait this many milliseconds from the first attempt. */
  readonly ms?: number;
  /** Wait until this moment: an ISO 8601 timestamp with a time zone, or a date (midnight UTC). */
  readonly sleep_until?: string;
}

export interface DelayOutput {
  /** How long the wait was meant to last from the first attempt (0 for a moment already past). */
  readonly waited_ms: number;
  /** When it was due, ISO 8601 (UTC). */
  readonly until: string;
}

/** What a sleeping delay keeps in the task row for the attempt that resumes it. */
interface DelayState {
  readonly delay_due: string;
  readonly waited_ms: number;
}

export async function delay(
  input: DelayInput,
  invocation: Pick<AgentInvocation, 'resumeState'>,
  context: Pick<RuntimeContext, 'log' | 'waitpoint'>,
  now: number = Date.now(),
): Promise<DelayOutput | Sleep> {
  const resumed = stateOf(invocation.resumeState);
  const { due, waited } = resumed ?? plan(input, now);
  const until = new Date(due).toISOString();
  if (due <= now) {
    // Reading it settles the waitpoint (timed out, as planned): the run no longer lists it.
    if (resumed !== undefined) await context.waitpoint?.(SLEEP_KEY);
    return { waited_ms: waited, until };
  }
  // A resumed attempt early (another process's clock a little behind) simply sleeps again.
  if (resumed === undefined) context.log('info', `waiting until ${until}`);
  return new Sleep(new Date(due), { delay_due: until, waited_ms: waited } satisfies DelayState, [], {
    key: SLEEP_KEY,
    kind: 'sleep',
    spec: { until },
    timeoutAt: new Date(due),
    onTimeout: 'continue',
  });
}

function plan(input: DelayInput, now: number): { due: number; waited: number } {
  const hasMs = input.ms !== undefined;
  const hasUntil = input.sleep_until !== undefined;
  if (hasMs && hasUntil)
    throw RuntimeError.invalidInput('input.sleep_until', 'give either ms or sleep_until, not both');
  if (hasUntil) {
    const due = parseTimestamp('input.sleep_until', input.sleep_until!);
    return { due, waited: Math.max(0, due - now) };
  }
  if (!hasMs) throw RuntimeError.invalidInput('input.ms', 'is required (or give sleep_until)');
  return { due: now + input.ms!, waited: input.ms! };
}

function stateOf(value: unknown): { due: number; waited: number } | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const state = value as Partial<DelayState>;
  const due = typeof state.delay_due === 'string' ? Date.parse(state.delay_due) : NaN;
  if (!Number.isFinite(due) || typeof state.waited_ms !== 'number') return undefined;
  return { due, waited: state.waited_ms };
}

const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})?)?$/;

/**
 * An ISO 8601 timestamp as epoch milliseconds. A time needs its time zone (`Z` or `+02:00`):
 * read in the worker's zone, the same text would mean different moments on different machines.
 * Impossible dates (February 30th, hour 25) are refused rather than rolled over.
 */
export function parseTimestamp(field: string, text: string): number {
  const refuse = (why: string) =>
    RuntimeError.invalidInput(field, `${why}, e.g. "2030-01-31T09:00:00Z"; got ${JSON.stringify(text)}`);
  const match = TIMESTAMP.exec(text);
  if (match === null) throw refuse('must be an ISO 8601 timestamp');
  const [, year, month, day, hour, minute, second, zone] = match;
  if (hour !== undefined && zone === undefined) throw refuse('must give its time zone (Z or ±hh:mm)');
  const y = Number(year);
  const m = Number(month);
  const d = Number(day);
  const daysInMonth = new Date(Date.UTC(y, m, 0)).getUTCDate();
  if (m < 1 || m > 12 || d < 1 || d > daysInMonth) throw refuse('is not a calendar date');
  if (Number(hour ?? 0) > 23 || Number(minute ?? 0) > 59 || Number(second ?? 0) > 59)
    throw refuse('is not a time of day');
  if (zone !== undefined && zone.length > 1) {
    const offset = zone.replace(':', '');
    if (Number(offset.slice(1, 3)) > 23 || Number(offset.slice(3)) > 59)
      throw refuse('has no such time zone');
  }
  // The text is well formed and a real moment: Date.parse reads this subset of ISO 8601 exactly
  // (a space or t instead of T, z, and a colon-less offset are normalised first).
  const normal = text
    .toUpperCase()
    .replace(' ', 'T')
    .replace(/([+-]\d{2})(\d{2})$/, '$1:$2')
    .replace(/^(\d{4}-\d{2}-\d{2})$/, '$1T00:00:00Z');
  const ms = Date.parse(normal);
  if (!Number.isFinite(ms)) throw refuse('is out of range');
  return ms;
}
