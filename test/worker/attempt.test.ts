import { describe, expect, it } from 'vitest';
import type { ClaimedTask } from '../../src/queue/index.js';
import { retryColumns, retryPolicyOf } from '../../src/queue/rows.js';
import { DEFAULT_RETRY_POLICY } from '../../src/queue/types.js';
import { BuiltinRuntime, type InvokedAgent, type RuntimeContext } from '../../src/runtimes/index.js';
import { AttemptAbort, AttemptContext, AttemptInvocation } from '../../src/worker/attempt.js';
import { idempotencyKeyOf } from '../../src/worker/idempotency.js';

const task = (over: Partial<ClaimedTask> = {}): ClaimedTask =>
  ({
    id: 'task-1',
    ownerId: 'owner-1',
    runId: 'run-1',
    stepId: 'a',
    itemIndex: 2,
    attempt: 1,
    ...over,
  }) as ClaimedTask;
const agent: InvokedAgent = {
  name: 'builtin/noop',
  version: '1.0.0',
  runtime: { type: 'builtin', name: 'noop' },
};

describe('AttemptAbort', () => {
  it('makes no signal until one is read, and a late read sees the abort and its reason', () => {
    const abort = new AttemptAbort();
    expect(abort.aborted).toBe(false);
    const reason = new Error('lease lost');
    abort.abort(reason);
    abort.abort(new Error('second reason'));
    expect(abort.aborted).toBe(true);
    expect(abort.signal.aborted).toBe(true);
    expect(abort.signal.reason).toBe(reason);
  });

  it('aborts a signal already handed out, once, with the first reason', () => {
    const abort = new AttemptAbort();
    const signal = abort.signal;
    const heard: unknown[] = [];
    signal.addEventListener('abort', () => heard.push(signal.reason));
    abort.abort('timeout');
    abort.abort('cancelled');
    expect(heard).toEqual(['timeout']);
    expect(abort.signal).toBe(signal);
  });
});

describe('AttemptInvocation', () => {
  it('carries the task and computes the idempotency key of its run, step and item on first read', () => {
    const invocation = new AttemptInvocation(task(), agent, { x: 1 });
    expect(invocation).toMatchObject({ taskId: 'task-1', runId: 'run-1', stepId: 'a', ownerId: 'owner-1' });
    expect(invocation.input).toEqual({ x: 1 });
    expect(invocation.idempotencyKey).toBe(idempotencyKeyOf('run-1', 'task-1', 'a', 2));
    expect(invocation.idempotencyKey).toBe(invocation.idempotencyKey);
    // A fork's replay keys by the original run; a standalone task by its own id.
    expect(new AttemptInvocation(task({ idempotencyRunId: 'root' }), agent, null).idempotencyKey).toBe(
      idempotencyKeyOf('root', 'task-1', 'a', 2),
    );
    expect(new AttemptInvocation(task({ runId: null }), agent, null).idempotencyKey).toBe(
      idempotencyKeyOf(null, 'task-1', 'a', 2),
    );
  });

  it('shows nothing of the task beyond its own fields, and resumeState only when there is one', () => {
    const plain = new AttemptInvocation(task({ input: 'secret input' } as Partial<ClaimedTask>), agent, 1);
    expect(Object.keys(plain).sort()).toEqual([
      'agent',
      'attempt',
      'input',
      'ownerId',
      'runId',
      'stepId',
      'taskId',
    ]);
    expect(JSON.stringify(plain)).not.toContain('secret input');
    expect('resumeState' in plain).toBe(false);
    expect(new AttemptInvocation(task({ resumeState: { turn: 3 } }), agent, 1).resumeState).toEqual({
      turn: 3,
    });
  });
});

describe('AttemptContext', () => {
  const parts = (): Required<Omit<RuntimeContext, 'signal' | 'secrets'>> => ({
    events: { publish: async () => 'event-1' },
    log: () => {},
    report: () => {},
    childTasks: async () => [],
    waitpoint: async () => null,
    checkpoint: async () => true,
  });

  it('hands out the attempt signal, and secrets only when some were granted', () => {
    const abort = new AttemptAbort();
    const none = new AttemptContext(abort, parts(), {});
    expect('secrets' in none).toBe(false);
    expect(none.signal).toBe(abort.signal);
    expect(new AttemptContext(abort, parts(), { TOKEN: 't' }).secrets).toEqual({ TOKEN: 't' });
  });

  it('lets a pure builtin run without making the signal, and stops any other once aborted', async () => {
    const runtime = new BuiltinRuntime({
      http: { allowPrivateNetworks: false, timeoutMs: 1000, maxResponseBytes: 1000 },
    });
    const abort = new AttemptAbort();
    let reads = 0;
    const context = new AttemptContext(abort, parts(), {});
    Object.defineProperty(context, 'signal', { get: () => (reads++, abort.signal) });
    await expect(runtime.execute(new AttemptInvocation(task(), agent, {}), context)).resolves.toEqual({});
    expect(reads).toBe(0);
    abort.abort(new Error('cancelled'));
    const http: InvokedAgent = {
      ...agent,
      name: 'builtin/http_request',
      runtime: { type: 'builtin', name: 'http_request' },
    };
    await expect(
      runtime.execute(new AttemptInvocation(task(), http, { url: 'https://example.com' }), context),
    ).rejects.toThrow('cancelled');
  });
});

describe('retry policy columns', () => {
  it('writes and reads each policy once, and reads back what was written', () => {
    const policy = { backoff: 'linear', initialDelayMs: 10, maxDelayMs: 20, jitter: false } as const;
    const columns = retryColumns(policy);
    expect(retryColumns({ ...policy })).toBe(columns);
    expect(retryColumns({ ...policy, jitter: true }).retry_options).toContain('"jitter":true');
    const read = retryPolicyOf(columns.retry_policy, columns.retry_options);
    expect(read).toEqual(policy);
    expect(retryPolicyOf(columns.retry_policy, columns.retry_options)).toBe(read);
    expect(Object.isFrozen(read)).toBe(true);
    expect(retryPolicyOf('fixed', columns.retry_options)).toEqual({ ...policy, backoff: 'fixed' });
    expect(retryPolicyOf('unknown', null)).toEqual(DEFAULT_RETRY_POLICY);
  });
});
