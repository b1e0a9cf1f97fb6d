import { describe, expect, it } from 'vitest';
import { Sleep } from '../../src/runtimes/index.js';
import { expectRuntimeError, expectValidOutput, invocation, makeContext, runtime } from './helpers.js';

/** The first attempt of builtin/wait_for_event; what resumes it is tested with a worker (test/triggers/wait-for.test.ts). */
describe('builtin/wait_for_event', () => {
  it('answers Sleep with an event waitpoint: its type, source, match and scope, timeout and lookback', async () => {
    const started = Date.now();
    const context = makeContext();
    const input = {
      event: 'order.paid',
      source: 'shop',
      match: 'event.payload.order_id = trigger.order_id',
      timeout: '2h',
      lookback: '5m',
      on_timeout: 'continue',
      scope: { trigger: { order_id: 'A-1' } },
    };
    const sleep = (await runtime().execute(invocation('wait_for_event', input), context)) as Sleep;
    expect(sleep).toBeInstanceOf(Sleep);
    const due = sleep.until.getTime();
    expect(due - started).toBeGreaterThanOrEqual(7_200_000);
    expect(due - Date.now()).toBeLessThanOrEqual(7_200_000);
    const since = due - 7_200_000 - 300_000;
    expect(sleep.waitpoint).toEqual({
      key: 'wait_for',
      kind: 'event',
      spec: { match: input.match, scope: input.scope, timeout: '2h', lookback: '5m' },
      eventType: 'order.paid',
      eventSource: 'shop',
      eventsSince: new Date(since),
      timeoutAt: sleep.until,
      onTimeout: 'continue',
    });
    expect(sleep.state).toEqual({
      waiting_since: new Date(due - 7_200_000).toISOString(),
      timeout_at: sleep.until.toISOString(),
      events_since: new Date(since).toISOString(),
    });
    expect(context.logs.map((l) => l.message)).toEqual([
      `waiting for event order.paid from shop (until ${sleep.until.toISOString()})`,
    ]);
  });

  it('without a timeout or lookback: sleeps for good, and the lookback is left to the dispatcher (the run start)', async () => {
    const sleep = (await runtime().execute(
      invocation('wait_for_event', { event: 'order.paid' }),
      makeContext(),
    )) as Sleep;
    expect(sleep.until.getUTCFullYear()).toBe(9999);
    expect(sleep.waitpoint).toEqual({
      key: 'wait_for',
      kind: 'event',
      spec: { match: null, scope: {} },
      eventType: 'order.paid',
      onTimeout: 'fail',
    });
  });

  it.each([
    [{}, /input\.event: is required/],
    [{ event: 'e', timeout: 'an hour' }, /input\.timeout: must be a duration/],
    [{ event: 'e', timeout: '366d' }, /input\.timeout: must be at most 365d/],
    [{ event: 'e', lookback: '-5m' }, /input\.lookback: must be a duration/],
    [{ event: 'e', match: 'event.(' }, /input\.match: expression does not parse/],
    [{ event: 'e', on_timeout: 'approve' }, /input\.on_timeout/],
    [{ event: 'e', colour: 'red' }, /input\.colour: unknown property/],
  ])('refuses the input %j as invalid, not retryable', async (input, message) => {
    await expectRuntimeError(
      runtime().execute(invocation('wait_for_event', input), makeContext()),
      'INPUT_INVALID',
      false,
      message,
    );
  });

  it('declares both of its outputs: the event, or timed_out', () => {
    expectValidOutput('wait_for_event', {
      event: {
        id: 'e1',
        type: 'order.paid',
        source: 'shop',
        payload: { a: 1 },
        created_at: '2030-01-01T00:00:00.000Z',
      },
      waited_ms: 12,
    });
    expectValidOutput('wait_for_event', { timed_out: true });
  });
});
