import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  cancelTasks,
  claimTasks,
  completeTasks,
  failTask,
  renewLeases,
  type CompletedTask,
  type FailedTask,
  type RetryPolicy,
} from '../../src/queue/index.js';
import { newId } from '../../src/storage/index.js';
import { DIALECTS } from '../helpers/databases.js';
import {
  assignmentsOf,
  at,
  closeQueueFixture,
  createRun,
  emptyQueue,
  enqueue,
  later,
  openQueueFixture,
  taskRow,
  type QueueFixture,
} from './helpers.js';

const policy = (backoff: RetryPolicy['backoff'], jitter = false): RetryPolicy => ({
  backoff,
  initialDelayMs: 1000,
  maxDelayMs: 3000,
  jitter,
});

describe.each(DIALECTS)('completion, failure and cancellation on %s', (dialect) => {
  let f: QueueFixture;
  beforeAll(async () => {
    f = await openQueueFixture(dialect);
  });
  afterAll(() => closeQueueFixture(f));
  beforeEach(() => emptyQueue(f));

  const claimAll = (now: Date, workerId = 'w') =>
    claimTasks(f.handle, { workerId, limit: 100, leaseMs: 60_000, now });

  it('completes a batch in one transaction with the hook', async () => {
    const runId = await createRun(f);
    const ids = await enqueue(f, [
      { runId, stepId: 'a' },
      { runId, stepId: 'b', itemIndex: 0 },
      { runId, stepId: 'b', itemIndex: 1 },
    ]);
    const claimed = await claimAll(later());
    const completions = claimed.map((t) => ({
      id: t.id,
      leaseEpoch: t.leaseEpoch,
      output: { step: t.stepId },
    }));

    // The hook reads the completion in its transaction.
    const seen: CompletedTask[] = [];
    const result = await completeTasks(f.handle, [...completions, completions[0]!], {
      onCompleted: async (trx, task) => {
        const row = await trx
          .selectFrom('tasks')
          .select(['status', 'result_data'])
          .where('id', '=', task.id)
          .executeTakeFirstOrThrow();
        expect(row.status).toBe('COMPLETED');
        await trx
          .insertInto('audit_logs')
          .values({ id: newId(), event_type: 'test', action: `hook ${task.id}`, success: 1 })
          .execute();
        seen.push(task);
      },
    });
    // A task named twice in one batch is completed once; the second mention is rejected.
    expect(result).toEqual({
      completed: completions.map((c) => c.id),
      rejected: [completions[0]!.id],
      failed: [],
      claimed: [],
    });
    expect(seen.map((t) => [t.runId, t.stepId, t.itemIndex, t.attempt, t.output])).toEqual(
      claimed.map((t) => [runId, t.stepId, t.itemIndex, 1, { step: t.stepId }]),
    );
    expect(await f.handle.db.selectFrom('audit_logs').select('id').execute()).toHaveLength(3);
    for (const id of ids) {
      const row = await taskRow(f, id);
      expect(row).toMatchObject({ status: 'COMPLETED', locked_by: null, locked_until: null });
      expect(row.completed_at).not.toBeNull();
      // The completing attempt is the task row's own: no assignment row.
      expect(row.worker_id).toBe('w');
      expect(await assignmentsOf(f, id)).toEqual([]);
    }
  });

  it('fails alone, with its own error, the one task of a batch whose hook throws; the others commit', async () => {
    const runId = await createRun(f);
    const ids = await enqueue(f, [
      { runId, stepId: 'a' },
      { runId, stepId: 'b', itemIndex: 0 },
      { runId, stepId: 'b', itemIndex: 1 },
      { runId, stepId: 'c' },
    ]);
    const claimed = await claimAll(later());
    const poison = claimed.find((t) => t.itemIndex === 1)!;
    const failed: FailedTask[] = [];
    // The hook writes, then throws for one task: its write and its completion roll back.
    const result = await completeTasks(
      f.handle,
      claimed.map((t) => ({ id: t.id, leaseEpoch: t.leaseEpoch, output: { step: t.stepId } })),
      {
        onCompleted: async (trx, task) => {
          await trx
            .insertInto('audit_logs')
            .values({ id: newId(), event_type: 'test', action: `hook ${task.id}`, success: 1 })
            .execute();
          if (task.itemIndex === 1) throw new Error('hook failed');
        },
        onFailed: async (_trx, task) => {
          failed.push(task);
        },
      },
      later(),
    );
    expect(result.completed.sort()).toEqual(ids.filter((id) => id !== poison.id).sort());
    expect(result.rejected).toEqual([]);
    // Retries are left (maxRetries 3): the attempt failed, the task goes round again.
    expect(result.failed).toEqual([
      { id: poison.id, error: 'recording the result failed: hook failed', outcome: 'retrying' },
    ]);
    expect(await taskRow(f, poison.id)).toMatchObject({
      status: 'PENDING',
      result_data: null,
      retry_count: 1,
      last_error: 'recording the result failed: hook failed',
      error_code: 'COMPLETION_FAILED',
    });
    expect(failed).toEqual([]);
    const audit = await f.handle.db
      .selectFrom('audit_logs')
      .select('action')
      .where(
        'action',
        'in',
        ids.map((id) => `hook ${id}`),
      )
      .execute();
    expect(audit.map((a) => a.action).sort()).toEqual(
      ids
        .filter((id) => id !== poison.id)
        .map((id) => `hook ${id}`)
        .sort(),
    );
    for (const id of ids.filter((id) => id !== poison.id))
      expect(await taskRow(f, id)).toMatchObject({ status: 'COMPLETED', result_data: expect.anything() });
  });

  it.each([
    ['fixed', [1000, 1000, 1000]],
    ['linear', [1000, 2000, 3000]],
    ['exponential', [1000, 2000, 3000]], // 4000 capped at 3000
  ] as const)(
    'retries with %s back-off, recorded in next_retry_at, then fails for good',
    async (backoff, expected) => {
      const [id] = await enqueue(f, [{ maxRetries: 3, retryPolicy: policy(backoff) }]);
      const failed: FailedTask[] = [];
      const onFailed = async (_trx: unknown, task: FailedTask) => {
        failed.push(task);
      };
      let now = later();
      for (const [i, delay] of expected.entries()) {
        const [task] = await claimAll(now);
        expect(task).toMatchObject({ id, attempt: i + 1 });
        const outcome = await failTask(
          f.handle,
          { id: id!, leaseEpoch: task!.leaseEpoch, error: `boom ${i + 1}`, code: 'E_BOOM' },
          { onFailed },
          { now },
        );
        expect(outcome).toBe('retrying');
        const row = await taskRow(f, id!);
        expect(row).toMatchObject({
          status: 'PENDING',
          retry_count: i + 1,
          next_retry_at: at(now, delay).toISOString(),
          run_at: at(now, delay).toISOString(),
          last_error: `boom ${i + 1}`,
          error_code: 'E_BOOM',
          locked_by: null,
        });
        // Not claimable before its back-off has passed.
        expect(await claimAll(at(now, delay - 1))).toEqual([]);
        now = at(now, delay);
      }
      const [last] = await claimAll(now);
      expect(last).toMatchObject({ id, attempt: 4 });
      expect(
        await failTask(
          f.handle,
          { id: id!, leaseEpoch: last!.leaseEpoch, error: 'final' },
          { onFailed },
          { now },
        ),
      ).toBe('failed');
      expect(await taskRow(f, id!)).toMatchObject({
        status: 'FAILED',
        retry_count: 3,
        error_message: 'final',
        last_error: 'final',
        completed_at: now.toISOString(),
        locked_by: null,
      });
      expect(failed).toEqual([
        {
          id,
          ownerId: f.ownerId,
          runId: null,
          stepId: null,
          itemIndex: null,
          attempt: 4,
          status: 'FAILED',
          error: 'final',
          code: null,
          scheduledTaskId: null,
          chainId: null,
        },
      ]);
      expect((await assignmentsOf(f, id!)).map((x) => [x.lease_epoch, x.status])).toEqual([
        [1, 'completed'],
        [2, 'completed'],
        [3, 'completed'],
        [4, 'completed'],
      ]);
    },
  );

  it('stores outputs and errors with NUL or unpaired surrogates, as U+FFFD, without failing the batch', async () => {
    const [plain, odd, failing] = await enqueue(f, [{}, {}, {}]);
    const claimed = await claimAll(later());
    const lease = (id: string) => claimed.find((t) => t.id === id)!;
    const { completed } = await completeTasks(f.handle, [
      { id: plain!, leaseEpoch: lease(plain!).leaseEpoch, output: { ok: true } },
      {
        id: odd!,
        leaseEpoch: lease(odd!).leaseEpoch,
        output: { text: 'a\u0000b', half: 'x\ud800y', ['k\u0000']: 1, literal: 'back\\u0000slash' },
      },
    ]);
    expect(completed.sort()).toEqual([plain!, odd!].sort());
    expect(JSON.parse((await taskRow(f, odd!)).result_data!)).toEqual({
      text: 'a\ufffdb',
      half: 'x\ufffdy',
      ['k\ufffd']: 1,
      literal: 'back\\u0000slash',
    });
    await failTask(f.handle, {
      id: failing!,
      leaseEpoch: lease(failing!).leaseEpoch,
      error: 'bad\u0000byte',
      retryable: false,
    });
    expect((await taskRow(f, failing!)).error_message).toBe('bad\ufffdbyte');
  });

  it('applies jitter from the given random source', async () => {
    const [id] = await enqueue(f, [{ maxRetries: 1, retryPolicy: policy('exponential', true) }]);
    const now = later();
    const [task] = await claimAll(now);
    await failTask(
      f.handle,
      { id: id!, leaseEpoch: task!.leaseEpoch, error: 'x' },
      {},
      { now, random: () => 0.5 },
    );
    expect((await taskRow(f, id!)).next_retry_at).toBe(at(now, 750).toISOString());
  });

  it('fails at once when the failure is not retryable', async () => {
    const [id] = await enqueue(f, [{ maxRetries: 5 }]);
    const [task] = await claimAll(later());
    const failed: FailedTask[] = [];
    const outcome = await failTask(
      f.handle,
      { id: id!, leaseEpoch: task!.leaseEpoch, error: 'bad input', code: 'E_INPUT', retryable: false },
      { onFailed: async (_trx, t) => void failed.push(t) },
    );
    expect(outcome).toBe('failed');
    expect(await taskRow(f, id!)).toMatchObject({ status: 'FAILED', retry_count: 0, error_code: 'E_INPUT' });
    expect(failed.map((t) => t.code)).toEqual(['E_INPUT']);
  });

  it('marks a timed-out last attempt TIMEOUT; an earlier one is retried', async () => {
    const [id] = await enqueue(f, [{ maxRetries: 1, timeoutSeconds: 5, retryPolicy: policy('fixed') }]);
    let now = later();
    const failed: FailedTask[] = [];
    const hooks = { onFailed: async (_trx: unknown, t: FailedTask) => void failed.push(t) };
    const [first] = await claimAll(now);
    const timedOut = { error: 'timed out after 5 s', timedOut: true };
    expect(
      await failTask(f.handle, { id: id!, leaseEpoch: first!.leaseEpoch, ...timedOut }, hooks, { now }),
    ).toBe('retrying');
    now = at(now, 1000);
    const [second] = await claimAll(now);
    expect(
      await failTask(f.handle, { id: id!, leaseEpoch: second!.leaseEpoch, ...timedOut }, hooks, { now }),
    ).toBe('timeout');
    expect(await taskRow(f, id!)).toMatchObject({
      status: 'TIMEOUT',
      error_code: 'TIMEOUT',
      error_message: 'timed out after 5 s',
      retry_count: 1,
    });
    expect(failed.map((t) => [t.status, t.attempt])).toEqual([['TIMEOUT', 2]]);
  });

  it('cancels pending and running tasks; the holder learns it and cannot complete', async () => {
    const runId = await createRun(f);
    const [pending, running, done, standalone] = await enqueue(f, [
      { runId, priority: 1 },
      { runId, priority: 9 },
      { runId, priority: 8 },
      {},
    ]);
    const t0 = later();
    const claimed = await claimTasks(f.handle, { workerId: 'w', limit: 2, leaseMs: 60_000, now: t0 });
    expect(claimed.map((t) => t.id)).toEqual([running, done]);
    await completeTasks(f.handle, [{ id: done!, leaseEpoch: 1, output: 'ok' }]);

    const cancelled = await cancelTasks(f.handle, { runId }, 'user-1', 'no longer needed', at(t0, 10));
    expect(new Set(cancelled)).toEqual(new Set([pending, running]));
    for (const id of [pending!, running!]) {
      expect(await taskRow(f, id)).toMatchObject({
        status: 'CANCELLED',
        cancelled_at: at(t0, 10).toISOString(),
        cancelled_by: 'user-1',
        cancellation_reason: 'no longer needed',
        locked_by: null,
        locked_until: null,
      });
    }
    expect((await taskRow(f, running!)).lease_epoch).toBe(2);
    expect((await taskRow(f, pending!)).lease_epoch).toBe(1);
    expect((await taskRow(f, done!)).status).toBe('COMPLETED');
    expect((await assignmentsOf(f, running!)).map((x) => x.status)).toEqual(['released']);

    // The running attempt's heartbeat reports the lease lost; its late result is refused.
    expect(await renewLeases(f.handle, 'w', [{ id: running!, leaseEpoch: 1 }], 60_000, at(t0, 20))).toEqual({
      renewed: [],
      lost: [running],
    });
    expect(await completeTasks(f.handle, [{ id: running!, leaseEpoch: 1, output: 'late' }])).toEqual({
      completed: [],
      rejected: [running],
      failed: [],
      claimed: [],
    });
    expect(await failTask(f.handle, { id: running!, leaseEpoch: 1, error: 'late' })).toBe('rejected');
    expect(await taskRow(f, running!)).toMatchObject({ status: 'CANCELLED', result_data: null });

    // Cancelled tasks are never claimed; cancelling by id reaches a standalone task.
    expect((await claimAll(at(t0, 30))).map((t) => t.id)).toEqual([standalone]);
    expect(await cancelTasks(f.handle, { ids: [standalone!, done!] }, 'user-1', 'stop')).toEqual([
      standalone,
    ]);
    expect(await cancelTasks(f.handle, { ids: [] }, 'user-1', 'nothing')).toEqual([]);
    await expect(cancelTasks(f.handle, {}, 'user-1', 'all?')).rejects.toMatchObject({
      code: 'INPUT_INVALID',
    });
  });
});
