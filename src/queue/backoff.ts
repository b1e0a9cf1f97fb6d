import type { RetryPolicy } from './types.js';

/**
 * The delay before retrying after attempt `attempt` (1-based) failed:
 *
 * - fixed: `initialDelayMs` every time;
 * - linear: `initialDelayMs × attempt`;
 * - exponential: `initialDelayMs × 2^(attempt − 1)`;
 *
 * capped at `maxDelayMs`. With `jitter` the capped delay `d` becomes a uniform pick in
 * [d/2, d] — "equal jitter" in AWS's terms, not full jitter ([0, d]): it keeps at least half
 * the intended wait (a retry storm still spreads out over d/2) and never exceeds the cap.
 * Pure: pass `random` to make it deterministic.
 */
export function computeBackoffMs(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const n = Math.max(1, Math.floor(attempt));
  const initial = Math.max(0, policy.initialDelayMs);
  let delay: number;
  switch (policy.backoff) {
    case 'fixed':
      delay = initial;
      break;
    case 'linear':
      delay = initial * n;
      break;
    case 'exponential':
      // 2^1024 is Infinity and 0 × Infinity is NaN: a zero base stays zero.
      delay = initial === 0 ? 0 : initial * 2 ** (n - 1);
      break;
  }
  delay = Math.min(delay, Math.max(0, policy.maxDelayMs));
  if (policy.jitter) delay = delay / 2 + random() * (delay / 2);
  return Math.round(delay);
}
