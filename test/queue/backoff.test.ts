import { describe, expect, it } from 'vitest';
import { computeBackoffMs, type RetryPolicy } from '../../src/queue/index.js';

const policy = (backoff: RetryPolicy['backoff'], jitter = false): RetryPolicy => ({
  backoff,
  initialDelayMs: 1000,
  maxDelayMs: 5000,
  jitter,
});
const delays = (p: RetryPolicy, random?: () => number) =>
  [1, 2, 3, 4, 5].map((attempt) => computeBackoffMs(p, attempt, random));

describe('computeBackoffMs', () => {
  it('grows fixed, linear and exponential, capped at maxDelayMs', () => {
    expect(delays(policy('fixed'))).toEqual([1000, 1000, 1000, 1000, 1000]);
    expect(delays(policy('linear'))).toEqual([1000, 2000, 3000, 4000, 5000]);
    expect(delays(policy('exponential'))).toEqual([1000, 2000, 4000, 5000, 5000]);
  });

  it('jitters within [delay/2, delay] of the capped delay', () => {
    expect(delays(policy('exponential', true), () => 0)).toEqual([500, 1000, 2000, 2500, 2500]);
    expect(delays(policy('exponential', true), () => 0.5)).toEqual([750, 1500, 3000, 3750, 3750]);
    expect(delays(policy('linear', true), () => 0.999999)).toEqual([1000, 2000, 3000, 4000, 5000]);
    for (let i = 0; i < 200; i++) {
      const d = computeBackoffMs(policy('exponential', true), 3);
      expect(d).toBeGreaterThanOrEqual(2000);
      expect(d).toBeLessThanOrEqual(4000);
    }
  });

  it('stays finite for huge attempts and zero delays', () => {
    expect(computeBackoffMs(policy('exponential'), 5000)).toBe(5000);
    expect(computeBackoffMs({ ...policy('exponential'), initialDelayMs: 0 }, 5000)).toBe(0);
    expect(computeBackoffMs(policy('linear'), 0)).toBe(1000);
  });
});
