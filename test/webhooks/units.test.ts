import { describe, expect, it } from 'vitest';
import {
  checkEventTypes,
  generateSecret,
  matchesEventType,
  retryDelayMs,
  signatureHeader,
} from '../../src/webhooks/index.js';
import { verifyStandardWebhook } from './receiver.js';

describe('webhook event types', () => {
  it('matches exactly, everything, or by prefix', () => {
    expect(matchesEventType(['run.completed'], 'run.completed')).toBe(true);
    expect(matchesEventType(['run.completed'], 'run.completed.late')).toBe(false);
    expect(matchesEventType(['*'], 'anything')).toBe(true);
    expect(matchesEventType(['run.*'], 'run.failed')).toBe(true);
    expect(matchesEventType(['run.*'], 'run')).toBe(false);
    expect(matchesEventType(['run.*'], 'runner.started')).toBe(false);
    expect(matchesEventType([], 'run.failed')).toBe(false);
  });

  it('checks patterns, naming the bad one', () => {
    expect(checkEventTypes(['a', 'a', 'b.*'])).toEqual(['a', 'b.*']);
    expect(() => checkEventTypes([])).toThrow(/^eventTypes: /);
    expect(() => checkEventTypes(['ok', 'not ok'])).toThrow(/^eventTypes\[1\]: /);
    expect(() => checkEventTypes(['a*b'])).toThrow(/^eventTypes\[0\]: a \* may only end a pattern/);
  });
});

describe('webhook retry schedule', () => {
  const options = { baseMs: 1000, capMs: 3_600_000 };
  it('doubles from the base with ±20 % jitter, capped', () => {
    expect(retryDelayMs(1, options, null, () => 0.5)).toBe(1000);
    expect(retryDelayMs(4, options, null, () => 0.5)).toBe(8000);
    expect(retryDelayMs(4, options, null, () => 0)).toBe(6400);
    expect(retryDelayMs(4, options, null, () => 1)).toBe(9600);
    expect(retryDelayMs(30, options, null, () => 1)).toBe(3_600_000);
  });
  it("waits at least as long as the receiver's Retry-After, up to the cap", () => {
    expect(retryDelayMs(1, options, 120, () => 0.5)).toBe(120_000);
    expect(retryDelayMs(1, options, 10 ** 9, () => 0.5)).toBe(3_600_000);
  });
});

describe('webhook signatures', () => {
  it('are what a Standard Webhooks receiver verifies', () => {
    const secret = generateSecret();
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    const timestamp = Math.floor(Date.now() / 1000);
    const body = '{"type":"x","timestamp":"2026-01-01T00:00:00.000Z","data":{}}';
    const headers = { 'webhook-id': 'd1', 'webhook-timestamp': String(timestamp) };
    const signature = signatureHeader(secret, 'd1', timestamp, body);
    expect(signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(verifyStandardWebhook(secret, { ...headers, 'webhook-signature': signature }, body)).toBe(true);
    // Another id under the same signature does not verify: the id is signed too.
    expect(
      verifyStandardWebhook(secret, { ...headers, 'webhook-id': 'd2', 'webhook-signature': signature }, body),
    ).toBe(false);
  });
});
