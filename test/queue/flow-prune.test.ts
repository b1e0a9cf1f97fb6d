import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  claimTasks,
  completeTasks,
  enqueueTasks,
  flowKey,
  pruneIdleFlowKeys,
  type FlowLimit,
} from '../../src/queue/index.js';
import type { Kysely } from 'kysely';
import { newId, type DatabaseHandle, type SwarmDatabase } from '../../src/storage/index.js';
import { DIALECTS } from '../helpers/databases.js';
import {
  closeOtherHandle,
  closeQueueFixture,
  enqueue,
  later,
  openOtherHandle,
  openQueueFixture,
  ownerConcurrency as concurrency,
  type QueueFixture,
} from './helpers.js';
const rate = (ownerId: string, value: string): FlowLimit => ({
  key: flowKey('rate', 'owner', { ownerId }, value),
  scope: 'owner',
  rate: { limit: 5, periodMs: 60_000 },
});

/**
 * A transaction on `db` held open after `work`: resolves once `work` is done, with `commit`,
 * which lets the transaction end, and `done`, its result once committed.
 */
async function heldOpen<T>(
  db: Kysely<SwarmDatabase>,
  work: (trx: Kysely<SwarmDatabase>) => Promise<T>,
): Promise<{ commit: () => void; done: Promise<T> }> {
  let commit!: () => void;
  const committing = new Promise<void>((resolve) => (commit = resolve));
  let worked!: () => void;
  const ready = new Promise<void>((resolve) => (worked = resolve));
  const done = db.transaction().execute(async (trx) => {
    const result = await work(trx);
    worked();
    await committing;
    return result;
  });
  await Promise.race([ready, done]);
  return { commit, done };
}

// Keys taken from values (`key: input.customer`) add a `flow_keys` row per value ever seen; the
// retention pass deletes the ones nothing needs (src/queue/flow/prune.ts).
describe.each(DIALECTS)('pruning idle flow keys on %s', (dialect) => {
  let f: QueueFixture;
  let second: DatabaseHandle;
  const keys = async () =>
    (await f.handle.db.selectFrom('flow_keys').select('key').orderBy('key').execute()).map((row) => row.key);
  beforeAll(async () => {
    f = await openQueueFixture(dialect);
    second = await openOtherHandle(f);
  });
  afterAll(async () => {
    await closeOtherHandle(f, second);
    await closeQueueFixture(f);
  });
  beforeEach(async () => {
    for (const table of ['worker_assignments', 'flow_slots', 'flow_starts', 'tasks', 'flow_keys'] as const)
      await f.handle.db.deleteFrom(table).execute();
  });

  it('deletes the keys nothing needs, with their slots and starts, and keeps every key in use', async () => {
    const o = f.ownerId;
    const parked = concurrency(o, 'parked', 1);
    const first = concurrency(o, 'first', 1);
    const other = concurrency(o, 'other', 1);
    const underAnother = concurrency(o, 'under-another', 1);
    const running = concurrency(o, 'running', 5);
    const done = concurrency(o, 'done', 5);
    const doneSecond = concurrency(o, 'done-second', 5);
    const recent = rate(o, 'recent');
    const old = rate(o, 'old');
    const now = later();
    // `running` and `done`/`doneSecond` start; `done`'s task ends, leaving a dead slot.
    const [runningId, doneId] = await enqueue(f, [{ flow: [running] }, { flow: [done, doneSecond] }]);
    const claimed = await claimTasks(f.handle, { workerId: 'w', limit: 2, leaseMs: 60_000, now });
    expect(claimed.map((task) => task.id).sort()).toEqual([runningId, doneId].sort());
    const ended = claimed.find((task) => task.id === doneId)!;
    await completeTasks(f.handle, [{ id: ended.id, leaseEpoch: ended.leaseEpoch, output: 1 }]);
    expect(await f.handle.db.selectFrom('flow_slots').select('key').execute()).toEqual([
      { key: doneSecond.key },
    ]);
    // Waiting: under its first key; a second key only in the task's list; a first key whose
    // task is parked under its other key (as after the other key refused it).
    await enqueue(f, [{ flow: [parked] }, { flow: [first, other] }]);
    const [moved] = await enqueue(f, [{ flow: [underAnother, other] }]);
    await f.handle.db.updateTable('tasks').set({ parked_key: other.key }).where('id', '=', moved!).execute();
    // Rate keys with no task: one started within its window, one long before.
    for (const [limit, startedAt] of [
      [recent, new Date(now.getTime() - 1_000)],
      [old, new Date(now.getTime() - 3_600_000)],
    ] as const) {
      await enqueue(f, [{ flow: [limit] }]);
      await f.handle.db.deleteFrom('tasks').where('concurrency_key', '=', limit.key).execute();
      await f.handle.db
        .insertInto('flow_starts')
        .values({ id: newId(), key: limit.key, started_at: startedAt.toISOString() })
        .execute();
    }

    expect(await pruneIdleFlowKeys(f.handle.db, f.handle.dialect, { now, batch: 3 })).toBe(3);
    expect(await keys()).toEqual(
      [parked, first, other, underAnother, running, recent].map((limit) => limit.key).sort(),
    );
    expect(await f.handle.db.selectFrom('flow_slots').select('key').execute()).toEqual([]);
    expect(await f.handle.db.selectFrom('flow_starts').select('key').execute()).toEqual([
      { key: recent.key },
    ]);
    expect(await pruneIdleFlowKeys(f.handle.db, f.handle.dialect, { now })).toBe(0);
  });

  it('registers a pruned key again at its next enqueue, with that enqueue’s limit', async () => {
    const once = concurrency(f.ownerId, 'customer-1', 3);
    const now = later();
    const [id] = await enqueue(f, [{ flow: [once] }]);
    const [task] = await claimTasks(f.handle, { workerId: 'w', limit: 1, leaseMs: 60_000, now });
    expect(task?.id).toBe(id);
    await completeTasks(f.handle, [{ id: task!.id, leaseEpoch: task!.leaseEpoch, output: 1 }]);
    expect(await pruneIdleFlowKeys(f.handle.db, f.handle.dialect, { now })).toBe(1);
    expect(await keys()).toEqual([]);

    await enqueue(f, [{ flow: [{ ...once, maxRunning: 1 }] }, { flow: [{ ...once, maxRunning: 1 }] }]);
    expect(await keys()).toEqual([once.key]);
    expect(await claimTasks(f.handle, { workerId: 'w', limit: 5, leaseMs: 60_000, now })).toHaveLength(1);
  });

  it('never deletes a key an enqueue has registered and not yet committed', async () => {
    const limit = concurrency(f.ownerId, 'customer-2', 1);
    const now = later();
    // The key exists and looks idle: its only task has ended.
    const [id] = await enqueue(f, [{ flow: [limit] }]);
    await f.handle.db.updateTable('tasks').set({ status: 'COMPLETED' }).where('id', '=', id!).execute();

    // An enqueue under the key, its transaction held open after its insert.
    const enqueueing = await heldOpen(f.handle.db, (trx) =>
      enqueueTasks(trx, f.handle.dialect, [
        { ownerId: f.ownerId, taskType: 'test', input: {}, flow: [limit] },
      ]),
    );
    try {
      if (dialect === 'postgres') {
        // Another process's prune, meanwhile: it cannot see the task yet, and skips the key.
        expect(await pruneIdleFlowKeys(second.db, second.dialect, { now })).toBe(0);
        expect(await keys()).toEqual([limit.key]);
      }
    } finally {
      enqueueing.commit();
    }
    const [queued] = await enqueueing.done;
    // Once the task is committed, it keeps the key.
    expect(await pruneIdleFlowKeys(second.db, second.dialect, { now })).toBe(0);
    const [task] = await claimTasks(f.handle, { workerId: 'w', limit: 1, leaseMs: 60_000, now });
    expect(task?.id).toBe(queued);
  });

  it.runIf(dialect === 'postgres')(
    'lets an enqueue that waited on a prune insert the key again',
    async () => {
      const limit = concurrency(f.ownerId, 'customer-3', 1);
      const now = later();
      const [id] = await enqueue(f, [{ flow: [limit] }]);
      await f.handle.db.updateTable('tasks').set({ status: 'COMPLETED' }).where('id', '=', id!).execute();
      // A prune's transaction: the key locked and deleted, not yet committed.
      const pruning = await heldOpen(second.db, async (trx) => {
        await trx.selectFrom('flow_keys').select('key').where('key', '=', limit.key).forUpdate().execute();
        await trx.deleteFrom('flow_keys').where('key', '=', limit.key).execute();
      });
      const enqueued = enqueue(f, [{ flow: [limit] }]);
      try {
        // The enqueue waits for the prune (its lock conflicts with FOR UPDATE).
        const early = await Promise.race([enqueued.then(() => 'done'), wait(300).then(() => 'waiting')]);
        expect(early).toBe('waiting');
      } finally {
        pruning.commit();
      }
      await pruning.done;
      const [queued] = await enqueued;
      expect(await keys()).toEqual([limit.key]);
      const [task] = await claimTasks(f.handle, { workerId: 'w', limit: 1, leaseMs: 60_000, now });
      expect(task?.id).toBe(queued);
    },
  );

  it.runIf(dialect === 'postgres')(
    'claims under a key while an enqueue holds it registered (claims do not wait on enqueues)',
    async () => {
      const limit = concurrency(f.ownerId, 'customer-4', 2);
      const now = later();
      const [waiting] = await enqueue(f, [{ flow: [limit] }]);
      const enqueueing = await heldOpen(f.handle.db, (trx) =>
        enqueueTasks(trx, f.handle.dialect, [
          { ownerId: f.ownerId, taskType: 'test', input: {}, flow: [limit] },
        ]),
      );
      // A claim in another process: it locks the key (SKIP LOCKED) while the enqueue holds it.
      const claimed = await claimTasks(second, { workerId: 'w', limit: 5, leaseMs: 60_000, now }).finally(
        enqueueing.commit,
      );
      await enqueueing.done;
      expect(claimed.map((task) => task.id)).toEqual([waiting]);
    },
  );
});

function wait(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
