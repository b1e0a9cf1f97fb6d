import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  cancelTasks,
  childTasksOf,
  claimTasks,
  completeTasks,
  failTask,
  sleepTask,
} from '../../src/queue/index.js';
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

describe.each(DIALECTS)('child tasks on %s', (dialect) => {
  let f: QueueFixture;
  beforeAll(async () => {
    f = await openQueueFixture(dialect);
  });
  afterAll(() => closeQueueFixture(f));
  beforeEach(() => emptyQueue(f));

  /** A claimed parent put to sleep for an hour with two children (`a`, then `b`). */
  async function parentWithChildren() {
    const [parent] = await enqueue(f, [{ priority: 1 }]);
    const t0 = later();
    await claimTasks(f.handle, { workerId: 'P', limit: 1, leaseMs: 60_000, now: t0 });
    const child = (name: string) => ({
      ownerId: f.ownerId,
      taskType: 'tool_call',
      input: { name },
      maxRetries: 0,
      priority: 9,
      metadata: { call: name },
    });
    const slept = await sleepTask(
      f.handle,
      {
        id: parent!,
        leaseEpoch: 1,
        until: at(t0, 3_600_000),
        state: { turn: 1 },
        children: [child('a'), child('b')],
      },
      t0,
    );
    expect(slept).toBe(true);
    return { parent: parent!, t0 };
  }

  it('starts the children with the sleep, and wakes the parent only when the last one has ended', async () => {
    const { parent, t0 } = await parentWithChildren();
    expect(await taskRow(f, parent)).toMatchObject({
      status: 'PENDING',
      run_at: at(t0, 3_600_000).toISOString(),
    });

    const claimed = await claimTasks(f.handle, {
      workerId: 'C',
      limit: 10,
      leaseMs: 60_000,
      now: later(2000),
    });
    expect(claimed.map((t) => t.input)).toEqual([{ name: 'a' }, { name: 'b' }]);
    const [a, b] = claimed;
    await completeTasks(f.handle, [{ id: a!.id, leaseEpoch: a!.leaseEpoch, output: { result: 'A' } }]);
    // One child still runs: the parent sleeps on.
    expect((await taskRow(f, parent)).run_at).toBe(at(t0, 3_600_000).toISOString());
    expect(
      await claimTasks(f.handle, { workerId: 'X', limit: 10, leaseMs: 60_000, now: later(3000) }),
    ).toEqual([]);

    // The last one fails for good: the parent is due now, and reads both outcomes back.
    expect(
      await failTask(f.handle, {
        id: b!.id,
        leaseEpoch: b!.leaseEpoch,
        error: 'tool broke',
        retryable: false,
      }),
    ).toBe('failed');
    const [resumed] = await claimTasks(f.handle, {
      workerId: 'P2',
      limit: 10,
      leaseMs: 60_000,
      now: later(3000),
    });
    expect(resumed).toMatchObject({ id: parent, attempt: 1, resumeState: { turn: 1 } });
    expect(await childTasksOf(f.handle, f.ownerId, parent)).toEqual([
      {
        id: a!.id,
        status: 'COMPLETED',
        finished: true,
        output: { result: 'A' },
        error: null,
        metadata: { call: 'a' },
      },
      {
        id: b!.id,
        status: 'FAILED',
        finished: true,
        output: null,
        error: 'tool broke',
        metadata: { call: 'b' },
      },
    ]);
    // Another owner reads none of them.
    expect(await childTasksOf(f.handle, 'someone-else', parent)).toEqual([]);
  });

  it('wakes the parent when its last two children end in two transactions at once', async () => {
    const { parent, t0 } = await parentWithChildren();
    const [a, b] = await claimTasks(f.handle, {
      workerId: 'C',
      limit: 10,
      leaseMs: 60_000,
      now: later(2000),
    });
    // The first transaction has ended its child and waits, uncommitted, for the second to get as
    // far (a while at most); the second then ends the other child.
    let firstEnded!: () => void;
    const firstIn = new Promise<void>((resolve) => (firstEnded = resolve));
    let secondEnded = false;
    const first = completeTasks(f.handle, [{ id: a!.id, leaseEpoch: a!.leaseEpoch, output: {} }], {
      onCompletedBatch: async () => {
        firstEnded();
        for (let waited = 0; !secondEnded && waited < 1000; waited += 20)
          await new Promise((resolve) => setTimeout(resolve, 20));
      },
    });
    await firstIn;
    const second = completeTasks(f.handle, [{ id: b!.id, leaseEpoch: b!.leaseEpoch, output: {} }], {
      onCompletedBatch: async () => {
        secondEnded = true;
      },
    });
    expect((await Promise.all([first, second])).map((r) => r.completed)).toEqual([[a!.id], [b!.id]]);
    // Not asleep until the end of its hour: due now.
    expect((await taskRow(f, parent)).run_at).not.toBe(at(t0, 3_600_000).toISOString());
  });

  it('starts no child when the sleep is refused (lease not held)', async () => {
    const [parent] = await enqueue(f, [{}]);
    await claimTasks(f.handle, { workerId: 'P', limit: 1, leaseMs: 60_000, now: later() });
    const refused = await sleepTask(f.handle, {
      id: parent!,
      leaseEpoch: 9,
      until: later(60_000),
      state: {},
      children: [{ ownerId: f.ownerId, taskType: 'tool_call', input: {} }],
    });
    expect(refused).toBe(false);
    expect(await childTasksOf(f.handle, f.ownerId, parent!)).toEqual([]);
  });

  it('cancels the children with their parent, and wakes a parent whose child alone is cancelled', async () => {
    const first = await parentWithChildren();
    expect(await cancelTasks(f.handle, { ids: [first.parent] }, 'tester', 'no longer needed')).toHaveLength(
      3,
    );
    expect((await childTasksOf(f.handle, f.ownerId, first.parent)).map((c) => c.status)).toEqual([
      'CANCELLED',
      'CANCELLED',
    ]);

    await emptyQueue(f);
    const second = await parentWithChildren();
    const children = await childTasksOf(f.handle, f.ownerId, second.parent);
    await cancelTasks(f.handle, { ids: children.map((c) => c.id) }, 'tester', 'stop the tools');
    const [resumed] = await claimTasks(f.handle, {
      workerId: 'P2',
      limit: 10,
      leaseMs: 60_000,
      now: later(3000),
    });
    expect(resumed?.id).toBe(second.parent);
  });
});
