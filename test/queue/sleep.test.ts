import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { claimTasks, completeTasks, sleepTask } from '../../src/queue/index.js';
import { DIALECTS } from '../helpers/databases.js';
import {
  assignmentsOf,
  at,
  closeQueueFixture,
  emptyQueue,
  enqueue,
  later,
  openQueueFixture,
  taskRow,
  type QueueFixture,
} from './helpers.js';

describe.each(DIALECTS)('sleeping tasks on %s', (dialect) => {
  let f: QueueFixture;
  beforeAll(async () => {
    f = await openQueueFixture(dialect);
  });
  afterAll(() => closeQueueFixture(f));
  beforeEach(() => emptyQueue(f));

  it('puts a task back on the queue until it is due, with its state, spending no attempt', async () => {
    const [id] = await enqueue(f, [{ maxRetries: 0 }]);
    const t0 = later();
    const [task] = await claimTasks(f.handle, { workerId: 'A', limit: 1, leaseMs: 1000, now: t0 });
    expect(task!.resumeState).toBeUndefined();

    const due = at(t0, 60_000);
    const state = { delay_due: due.toISOString(), waited_ms: 60_000 };
    expect(await sleepTask(f.handle, { id: id!, leaseEpoch: 1, until: due, state }, t0)).toBe(true);
    expect(await taskRow(f, id!)).toMatchObject({
      status: 'PENDING',
      run_at: due.toISOString(),
      retry_count: 0,
      locked_by: null,
      locked_until: null,
    });
    expect((await assignmentsOf(f, id!)).map((x) => x.status)).toEqual(['released']);
    // The sleeping worker's completion is refused: the task is no longer its to finish.
    expect((await completeTasks(f.handle, [{ id: id!, leaseEpoch: 1, output: 'early' }])).rejected).toEqual([
      id,
    ]);

    // Not claimable before it is due; then claimed as the same attempt, with the state back.
    expect(await claimTasks(f.handle, { workerId: 'B', limit: 1, leaseMs: 1000, now: at(due, -1) })).toEqual(
      [],
    );
    const [resumed] = await claimTasks(f.handle, { workerId: 'B', limit: 1, leaseMs: 1000, now: due });
    expect(resumed).toMatchObject({ id, attempt: 1, leaseEpoch: 2, resumeState: state });
  });

  it('refuses to put to sleep a task whose lease is not held', async () => {
    const [id] = await enqueue(f, [{}]);
    const t0 = later();
    await claimTasks(f.handle, { workerId: 'A', limit: 1, leaseMs: 1000, now: t0 });
    const until = at(t0, 5000);
    expect(await sleepTask(f.handle, { id: id!, leaseEpoch: 7, until, state: {} })).toBe(false);
    expect(await taskRow(f, id!)).toMatchObject({ status: 'RUNNING', locked_by: 'A' });
  });

  it('does not expire a task resuming from a sleep: it started before its expires_at', async () => {
    const t0 = later();
    const [sleeper, waiting] = await enqueue(f, [
      { expiresAt: at(t0, 1000), priority: 9 },
      { expiresAt: at(t0, 1000), runAt: at(t0, 500) },
    ]);
    await claimTasks(f.handle, { workerId: 'A', limit: 1, leaseMs: 1000, now: t0 });
    await sleepTask(f.handle, { id: sleeper!, leaseEpoch: 1, until: at(t0, 2000), state: { n: 1 } }, t0);
    const claimed = await claimTasks(f.handle, { workerId: 'B', limit: 5, leaseMs: 1000, now: at(t0, 2000) });
    expect(claimed.map((x) => x.id)).toEqual([sleeper]);
    expect((await taskRow(f, waiting!)).status).toBe('EXPIRED');
  });
});
