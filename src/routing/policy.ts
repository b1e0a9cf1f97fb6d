/** How a finished attempt moves an agent's trust score (always kept in [0, 1]). */
export interface TrustPolicy {
  /** Added on a completed attempt. @default +0.02 */
  readonly success: number;
  /** Added on a failed attempt. @default -0.05 */
  readonly failure: number;
  /** Added on an attempt killed at its timeout. @default -0.1 */
  readonly timeout: number;
}

export const DEFAULT_TRUST_POLICY: TrustPolicy = Object.freeze({
  success: 0.02,
  failure: -0.05,
  timeout: -0.1,
});

/** Agents under this trust score get no routed work (SWARM_TRUST_THRESHOLD). */
export const DEFAULT_TRUST_THRESHOLD = 0.2;

/** Agents whose health score (0–100) is under this get no routed work. */
export const DEFAULT_MIN_HEALTH = 1;

/**
 * Weight of the latest attempt in the health score, a moving average of outcomes (100 for a
 * completed attempt, 0 for a failed or timed-out one).
 */
export const HEALTH_WEIGHT = 0.2;

export type AttemptResult = 'completed' | 'failed' | 'timeout';

/** Scores are kept to 6 decimals, so +0.02 six times is exactly 0.12 and thresholds compare cleanly. */
export function roundScore(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

export function nextTrust(before: number, result: AttemptResult, policy: TrustPolicy = DEFAULT_TRUST_POLICY) {
  const delta =
    result === 'completed' ? policy.success : result === 'timeout' ? policy.timeout : policy.failure;
  const after = roundScore(Math.min(1, Math.max(0, before + delta)));
  return { after, delta: roundScore(after - before) };
}

/**
 * The health score after an attempt: the moving average moves HEALTH_WEIGHT of the way to 100
 * (completed) or 0 (failed, timed out), rounded toward it, so it reaches both ends.
 */
export function nextHealth(before: number, result: AttemptResult): number {
  const target = result === 'completed' ? 100 : 0;
  const value = before + (target - before) * HEALTH_WEIGHT;
  return Math.min(100, Math.max(0, target > before ? Math.ceil(value) : Math.floor(value)));
}
