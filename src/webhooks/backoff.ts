/** When the next attempt of a failed delivery is due. */
export interface BackoffOptions {
  /** The delay after the first failure; doubled after each further one. @default 1000 */
  readonly baseMs: number;
  /** The longest delay. @default one hour */
  readonly capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, capMs: 3_600_000 };

/**
 * The delay after failed attempt number `attempt` (1-based): base·2^(attempt-1), capped, with
 * ±20 % jitter so receivers that failed together are not all retried in the same instant. A
 * `Retry-After` the receiver sent (seconds) wins when it asks for longer, up to the cap.
 */
export function retryDelayMs(
  attempt: number,
  options: BackoffOptions,
  retryAfterSeconds: number | null = null,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(options.capMs, options.baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.min(options.capMs, Math.round(exponential * (0.8 + 0.4 * random())));
  if (retryAfterSeconds === null) return jittered;
  return Math.max(jittered, Math.min(options.capMs, retryAfterSeconds * 1000));
}

/** `Retry-After` as seconds: a number of seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: Date): number | null {
  if (value === undefined || value.trim() === '') return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}
