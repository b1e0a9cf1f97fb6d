import type { Kysely } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  claimTasks,
  completeTasks,
  enqueueTasks,
  flowKey,
  reclaimExpiredLeases,
  type CompletionHooks,
  type NewTask,
} from '../../src/queue/index.js';
import type { SwarmDatabase } from '../../src/storage/index.js';
import { DIALECTS } from '../helpers/databases.js';
import {
  at,
  closeQueueFixture,
  emptyQueue,
  enqueue,
  later,
  openQueueFixture,
  taskRow,
  type QueueFixture,
} from './helpers.js';

// Claim on complete (src/queue/eager.ts): the tasks a completion releases, taken by the
// completing worker in the same transaction, as the claim would have taken them.
describe.each(DIALECTS)('claim on complete on %s', (dialect) => {
  let f: QueueFixture;
  beforeAll(async () => {
    f = await openQueueFixture(dialect);
  });
  afterAll(() => closeQueueFixture(f));
  beforeEach(() => emptyQueue(f));

  /** Claims one task as worker `w`, and returns its lease. */
  const claimOne = async (workerId = 'w') => {
    const [task] = await claimTasks(f.handle, { workerId, limit: 1, leaseMs: 30_000, now: later() });
    return task!;
  };
  /** Hooks that release `next(i)` for each completed task, in the completion's transaction. */
  const releasing = (next: Array<Partial<NewTask>>, fail = false): CompletionHooks => ({
    onCompletedBatch: async (trx: Kysely<SwarmDatabase>) => {
      await enqueueTasks(
        trx,
        f.handle.dialect,
        next.map((task, i) => ({ ownerId: f.ownerId, taskType: 'next', input: { next: i }, ...task })),
      );
      if (fail) throw new Error('the hook failed after releasing');
    },
  });
  const statusesOfType = async (taskType: string) =>
    (
      await f.handle.db
        .selectFrom('tasks')
        .select(['status', 'locked_by', 'lease_epoch'])
        .where('task_type', '=', taskType)
        .orderBy('id')
        .execute()
    ).map((row) => [row.status, row.locked_by, row.lease_epoch]);

  it('hands the released task to the completing worker, claimed as a claim would have', async () => {
    await enqueue(f, [{}]);
    const first = await claimOne();
    const done = await completeTasks(
      f.handle,
      [{ id: first.id, leaseEpoch: first.leaseEpoch, output: 1 }],
      releasing([{ priority: 7 }]),
      new Date(),
      { eager: { workerId: 'w', leaseMs: 30_000, room: 4 } },
    );
    expect(done.completed).toEqual([first.id]);
    expect(done.claimed).toHaveLength(1);
    const next = done.claimed[0]!;
    expect(next).toMatchObject({
      taskType: 'next',
      input: { next: 0 },
      priority: 7,
      leaseEpoch: 1,
      attempt: 1,
    });
    const row = await taskRow(f, next.id);
    expect(row).toMatchObject({ status: 'RUNNING', locked_by: 'w', worker_id: 'w', lease_epoch: 1 });
    expect(row.started_at).not.toBeNull();
    expect(Date.parse(String(row.locked_until)) - Date.now()).toBeGreaterThan(20_000);
    // Nobody else may claim it, and its lease completes it like any claimed task's.
    expect(await claimTasks(f.handle, { workerId: 'other', limit: 5, leaseMs: 1000, now: later() })).toEqual(
      [],
    );
    const second = await completeTasks(f.handle, [{ id: next.id, leaseEpoch: 1, output: 2 }]);
    expect(second.completed).toEqual([next.id]);
  });

  it('takes no more than its room, and only what a claim would take at once', async () => {
    await enqueue(f, [{}]);
    const first = await claimOne();
    const keyed = {
      key: flowKey('concurrency', 'owner', { ownerId: f.ownerId }, 'k'),
      scope: 'owner',
      maxRunning: 5,
    } as const;
    const done = await completeTasks(
      f.handle,
      [{ id: first.id, leaseEpoch: first.leaseEpoch, output: 1 }],
      releasing([
        {},
        { flow: [keyed] },
        { idempotencyKey: 'once' },
        { runAt: later(60_000) },
        { expiresAt: later(60_000) },
        {},
        {},
      ]),
      new Date(),
      { eager: { workerId: 'w', leaseMs: 30_000, room: 2 } },
    );
    expect(done.claimed.map((t) => t.input)).toEqual([{ next: 0 }, { next: 5 }]);
    expect(await statusesOfType('next')).toEqual([
      ['RUNNING', 'w', 1],
      ['PENDING', null, 0],
      ['PENDING', null, 0],
      ['PENDING', null, 0],
      ['PENDING', null, 0],
      ['RUNNING', 'w', 1],
      ['PENDING', null, 0],
    ]);
  });

  it('takes nothing when not asked, nor after a call that asked', async () => {
    await enqueue(f, [{}, {}]);
    const a = await claimOne();
    const b = await claimOne();
    const asked = await completeTasks(
      f.handle,
      [{ id: a.id, leaseEpoch: a.leaseEpoch, output: 1 }],
      releasing([{}]),
      new Date(),
      { eager: { workerId: 'w', leaseMs: 30_000, room: 1 } },
    );
    expect(asked.claimed).toHaveLength(1);
    const plain = await completeTasks(
      f.handle,
      [{ id: b.id, leaseEpoch: b.leaseEpoch, output: 1 }],
      releasing([{}]),
    );
    expect(plain.claimed).toEqual([]);
    await enqueueTasks(f.handle.db, f.handle.dialect, [
      { ownerId: f.ownerId, taskType: 'next', input: null },
    ]);
    expect((await statusesOfType('next')).map(([status]) => status)).toEqual([
      'RUNNING',
      'PENDING',
      'PENDING',
    ]);
  });

  it('keeps nothing of a transaction that rolled back', async () => {
    await enqueue(f, [{}]);
    const first = await claimOne();
    const done = await completeTasks(
      f.handle,
      [{ id: first.id, leaseEpoch: first.leaseEpoch, output: 1 }],
      releasing([{}], true),
      new Date(),
      { eager: { workerId: 'w', leaseMs: 30_000, room: 4 } },
    );
    // The hook's error fails the task on its own (CompleteResult.failed); what it released is gone.
    expect(done.failed.map((x) => x.id)).toEqual([first.id]);
    expect(done.claimed).toEqual([]);
    expect(await statusesOfType('next')).toEqual([]);
  });

  it('gives back what committed halves took when a later half meets a passing database error', async () => {
    const [a, b] = await enqueue(f, [{}, {}]);
    const first = await claimOne();
    const second = await claimOne();
    // The whole batch fails on its own (recorded again in halves); a's half releases a task
    // and commits; b's half then meets a transient error, which completeTasks rethrows.
    const hooks: CompletionHooks = {
      onCompletedBatch: async (trx: Kysely<SwarmDatabase>, done) => {
        if (done.length > 1) throw new Error('refused as a whole');
        if (done[0]!.id === b) throw Object.assign(new Error('database busy'), { code: 'SQLITE_BUSY' });
        await enqueueTasks(trx, f.handle.dialect, [{ ownerId: f.ownerId, taskType: 'next', input: null }]);
      },
    };
    await expect(
      completeTasks(
        f.handle,
        [
          { id: first.id, leaseEpoch: first.leaseEpoch, output: 1 },
          { id: second.id, leaseEpoch: second.leaseEpoch, output: 2 },
        ],
        hooks,
        new Date(),
        { eager: { workerId: 'w', leaseMs: 30_000, room: 4 } },
      ),
    ).rejects.toThrow('database busy');
    expect((await taskRow(f, a!)).status).toBe('COMPLETED');
    // Taken in a's half, then handed back: waiting on the queue, no lease lost.
    expect(await statusesOfType('next')).toEqual([['PENDING', null, 1]]);
  });

  it('gives a task back to the queue when the worker that took it dies', async () => {
    await enqueue(f, [{}]);
    const first = await claimOne();
    const done = await completeTasks(
      f.handle,
      [{ id: first.id, leaseEpoch: first.leaseEpoch, output: 1 }],
      releasing([{}]),
      new Date(),
      { eager: { workerId: 'dead', leaseMs: 1000, room: 1 } },
    );
    const taken = done.claimed[0]!;
    // The worker never runs it: past its lease the task is reclaimed, then claimed by another.
    expect(await reclaimExpiredLeases(f.handle, at(new Date(), 5000))).toEqual([taken.id]);
    const again = await claimTasks(f.handle, {
      workerId: 'alive',
      limit: 5,
      leaseMs: 30_000,
      now: later(6000),
    });
    expect(again.map((t) => [t.id, t.leaseEpoch])).toEqual([[taken.id, 2]]);
    // The dead worker's lease is fenced off.
    expect(
      (await completeTasks(f.handle, [{ id: taken.id, leaseEpoch: 1, output: 'late' }])).rejected,
    ).toEqual([taken.id]);
  });
});
