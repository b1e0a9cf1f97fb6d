import type { Kysely } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  claimTasks,
  completeTasks,
  failTask,
  reclaimExpiredLeases,
  releaseTasks,
  renewLeases,
  type FailedTask,
  type LostLease,
} from '../../src/queue/index.js';
import type { SwarmDatabase } from '../../src/storage/index.js';
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

describe.each(DIALECTS)('leases on %s', (dialect) => {
  let f: QueueFixture;
  beforeAll(async () => {
    f = await openQueueFixture(dialect);
  });
  afterAll(() => closeQueueFixture(f));
  beforeEach(() => emptyQueue(f));

  it('renewal keeps a task; a lease not held is reported lost', async () => {
    const [id, other] = await enqueue(f, [{}, {}]);
    const t0 = later();
    const [task] = await claimTasks(f.handle, { workerId: 'w1', limit: 1, leaseMs: 1000, now: t0 });
    expect(task!.id).toBe(id);

    const renewal = await renewLeases(
      f.handle,
      'w1',
      [
        { id: id!, leaseEpoch: 1 },
        { id: other!, leaseEpoch: 1 }, // never claimed
      ],
      1000,
      at(t0, 800),
    );
    expect(renewal).toEqual({ renewed: [id], lost: [other] });
    expect(await taskRow(f, id!)).toMatchObject({
      locked_until: at(t0, 1800).toISOString(),
      heartbeat_at: at(t0, 800).toISOString(),
    });
    // Renewal stamps the task only: the attempt is still running, so it has no assignment row.
    expect(await assignmentsOf(f, id!)).toEqual([]);

    // Past the first lease but within the renewed one, or exactly at its end: nothing to reclaim.
    expect(await reclaimExpiredLeases(f.handle, at(t0, 1500))).toEqual([]);
    expect(await reclaimExpiredLeases(f.handle, at(t0, 1800))).toEqual([]);
    expect((await taskRow(f, id!)).status).toBe('RUNNING');

    // Another worker, or a wrong epoch, renews nothing.
    expect(await renewLeases(f.handle, 'w2', [{ id: id!, leaseEpoch: 1 }], 1000, at(t0, 900))).toEqual({
      renewed: [],
      lost: [id],
    });
    expect(await renewLeases(f.handle, 'w1', [{ id: id!, leaseEpoch: 0 }], 1000, at(t0, 900))).toEqual({
      renewed: [],
      lost: [id],
    });
    expect((await taskRow(f, id!)).locked_until).toBe(at(t0, 1800).toISOString());
  });

  it('renews more leases than one statement binds: each lease is two parameters', async () => {
    // 17,000 leases × 2 parameters is over SQLite's 32,766: the heartbeat needs two statements.
    const n = 17_000;
    for (let i = 0; i < n; i += 1000)
      await enqueue(
        f,
        Array.from({ length: 1000 }, () => ({})),
      );
    const t0 = later();
    const claimed = await claimTasks(f.handle, { workerId: 'w1', limit: n, leaseMs: 1000, now: t0 });
    expect(claimed).toHaveLength(n);
    const renewal = await renewLeases(f.handle, 'w1', claimed, 1000, at(t0, 500));
    expect(renewal.lost).toEqual([]);
    expect(new Set(renewal.renewed).size).toBe(n);
  });

  it("a worker's own reclaim spares the tasks it names as live; anyone else's takes them", async () => {
    const [mine, forgotten, theirs] = await enqueue(f, [{}, {}, {}]);
    const t0 = later();
    await claimTasks(f.handle, { workerId: 'A', limit: 2, leaseMs: 1000, now: t0 });
    await claimTasks(f.handle, { workerId: 'B', limit: 1, leaseMs: 1000, now: t0 });
    // All three leases ran out. A still holds `mine` (it stalled, its renewal came late): its
    // reclaim takes B's task and the one A no longer names, never the one it names.
    const spare = { workerId: 'A', taskIds: [mine!, theirs!] };
    expect(new Set(await reclaimExpiredLeases(f.handle, at(t0, 2000), {}, 3, spare))).toEqual(
      new Set([forgotten, theirs]),
    );
    expect(await taskRow(f, mine!)).toMatchObject({ status: 'RUNNING', locked_by: 'A', lease_losses: 0 });
    // To any other reclaimer A's expired lease is a worker that is gone.
    expect(
      await reclaimExpiredLeases(f.handle, at(t0, 2000), {}, 3, { workerId: 'B', taskIds: [mine!] }),
    ).toEqual([mine]);
    expect(await taskRow(f, mine!)).toMatchObject({ status: 'PENDING', lease_losses: 1 });
  });

  it('fences a worker whose lease was reclaimed: only the new holder completes, once', async () => {
    const [id] = await enqueue(f, [{ maxRetries: 3 }]);
    const t0 = later();
    const [a] = await claimTasks(f.handle, { workerId: 'A', limit: 1, leaseMs: 1000, now: t0 });
    expect(a!.leaseEpoch).toBe(1);

    // A stops renewing; its lease runs out and the task is taken back, the attempt not spent.
    expect(await reclaimExpiredLeases(f.handle, at(t0, 2000))).toEqual([id]);
    expect(await taskRow(f, id!)).toMatchObject({
      status: 'PENDING',
      retry_count: 0,
      lease_losses: 1,
      lease_epoch: 1,
      locked_by: null,
      locked_until: null,
      last_error: 'lease expired',
    });
    expect((await assignmentsOf(f, id!)).map((x) => x.status)).toEqual(['lost']);

    const [b] = await claimTasks(f.handle, { workerId: 'B', limit: 1, leaseMs: 1000, now: at(t0, 2000) });
    expect(b).toMatchObject({ id, leaseEpoch: 2, attempt: 1 });

    // A wakes up: its heartbeat, completion and failure are all refused.
    expect(await renewLeases(f.handle, 'A', [{ id: id!, leaseEpoch: 1 }], 1000, at(t0, 2100))).toEqual({
      renewed: [],
      lost: [id],
    });
    const completions: string[] = [];
    const hooks = {
      onCompleted: async (_trx: unknown, task: { id: string }) => {
        completions.push(task.id);
      },
    };
    expect(await completeTasks(f.handle, [{ id: id!, leaseEpoch: 1, output: 'from A' }], hooks)).toEqual({
      completed: [],
      rejected: [id],
      failed: [],
      claimed: [],
    });
    expect(await failTask(f.handle, { id: id!, leaseEpoch: 1, error: 'A failed' })).toBe('rejected');
    expect(await taskRow(f, id!)).toMatchObject({ status: 'RUNNING', locked_by: 'B', lease_epoch: 2 });

    expect(
      await completeTasks(f.handle, [{ id: id!, leaseEpoch: 2, output: 'from B', durationMs: 12 }], hooks),
    ).toEqual({ completed: [id], rejected: [], failed: [], claimed: [] });
    // A's late retry of its completion changes nothing either.
    expect(
      (await completeTasks(f.handle, [{ id: id!, leaseEpoch: 1, output: 'from A' }], hooks)).rejected,
    ).toEqual([id]);
    expect(
      (await completeTasks(f.handle, [{ id: id!, leaseEpoch: 2, output: 'again' }], hooks)).rejected,
    ).toEqual([id]);

    expect(completions).toEqual([id]);
    const row = await taskRow(f, id!);
    expect(row).toMatchObject({ status: 'COMPLETED', locked_by: null, locked_until: null, duration_ms: 12 });
    expect(JSON.parse(row.result_data!)).toBe('from B');
    expect(
      (await assignmentsOf(f, id!)).map((x) => ({
        worker: x.worker_id,
        epoch: x.lease_epoch,
        status: x.status,
      })),
    ).toEqual([{ worker: 'A', epoch: 1, status: 'lost' }]);
    // B's completing attempt is the task row's own.
    expect(row).toMatchObject({ worker_id: 'B', lease_epoch: 2 });
  });

  it('retries a lost lease without spending an attempt; the third loss ends the task TIMEOUT saying so', async () => {
    const [id] = await enqueue(f, [{ maxRetries: 0 }]);
    const lost: LostLease[] = [];
    const failed: FailedTask[] = [];
    const hooks = {
      onLeaseLost: async (_trx: unknown, tasks: readonly LostLease[]) => {
        lost.push(...tasks);
      },
      onFailed: async (trx: Kysely<SwarmDatabase>, task: FailedTask) => {
        // Inside the reclaim's transaction: the task already reads as ended.
        const row = await trx
          .selectFrom('tasks')
          .select('status')
          .where('id', '=', task.id)
          .executeTakeFirstOrThrow();
        expect(row.status).toBe('TIMEOUT');
        failed.push(task);
      },
    };
    let t = later();
    // Three workers in turn claim the task and die (stop renewing): max_retries 0 does not matter.
    for (const [n, worker] of ['A', 'B', 'C'].entries()) {
      const [task] = await claimTasks(f.handle, { workerId: worker, limit: 1, leaseMs: 1000, now: t });
      expect(task).toMatchObject({ id, attempt: 1, leaseEpoch: n + 1 });
      t = at(t, 1001);
      expect(await reclaimExpiredLeases(f.handle, t, hooks)).toEqual([id]);
      if (n < 2)
        expect(await taskRow(f, id!)).toMatchObject({
          status: 'PENDING',
          retry_count: 0,
          lease_losses: n + 1,
        });
    }
    expect(lost.map((x) => [x.attempt, x.leaseLosses, x.maxLeaseLosses])).toEqual([
      [1, 1, 3],
      [1, 2, 3],
    ]);
    expect(lost[0]).toMatchObject({ id, ownerId: f.ownerId, runId: null });
    const message = 'lease lost 3 times (worker died or stalled; SWARM_MAX_LEASE_LOSSES=3)';
    expect(failed).toEqual([
      expect.objectContaining({ id, status: 'TIMEOUT', error: message, code: 'LEASE_EXPIRED', attempt: 1 }),
    ]);
    expect(await taskRow(f, id!)).toMatchObject({
      status: 'TIMEOUT',
      retry_count: 0,
      lease_losses: 3,
      error_message: message,
      error_code: 'LEASE_EXPIRED',
      completed_at: t.toISOString(),
      locked_by: null,
    });
    expect((await assignmentsOf(f, id!)).map((x) => x.status)).toEqual(['lost', 'lost', 'lost']);
    // Settled: a later pass finds nothing, and the last dead holder's completion is refused.
    expect(await reclaimExpiredLeases(f.handle, at(t, 5000))).toEqual([]);
    expect((await completeTasks(f.handle, [{ id: id!, leaseEpoch: 3, output: 'late' }])).rejected).toEqual([
      id,
    ]);
  });

  it('keeps the step its attempts after lost leases, and honours a lower limit', async () => {
    const [id, other] = await enqueue(f, [{ maxRetries: 1 }, { maxRetries: 5 }]);
    let t = later();
    await claimTasks(f.handle, { workerId: 'A', limit: 2, leaseMs: 1000, now: t });
    t = at(t, 1001);
    // A limit of 2: the first loss is retried.
    expect(new Set(await reclaimExpiredLeases(f.handle, t, {}, 2))).toEqual(new Set([id, other]));
    const claimed = await claimTasks(f.handle, { workerId: 'B', limit: 2, leaseMs: 1000, now: t });
    const mine = claimed.find((x) => x.id === id)!;
    expect(mine.attempt).toBe(1);
    // The step's own failure then spends its attempts as before: one retry, then the end.
    expect(await failTask(f.handle, { id: id!, leaseEpoch: mine.leaseEpoch, error: 'boom' })).toBe(
      'retrying',
    );
    expect(await taskRow(f, id!)).toMatchObject({ status: 'PENDING', retry_count: 1, lease_losses: 1 });
    // The other task loses its second lease: with the limit at 2 it ends, its retries unspent.
    t = at(t, 1001);
    expect(await reclaimExpiredLeases(f.handle, t, {}, 2)).toEqual([other]);
    expect(await taskRow(f, other!)).toMatchObject({
      status: 'TIMEOUT',
      retry_count: 0,
      lease_losses: 2,
      error_message: 'lease lost 2 times (worker died or stalled; SWARM_MAX_LEASE_LOSSES=2)',
    });
  });

  it('releases claimed tasks back to the queue without counting an attempt', async () => {
    const ids = await enqueue(f, [{}, {}, {}]);
    const t0 = later();
    const claimed = await claimTasks(f.handle, { workerId: 'w', limit: 3, leaseMs: 10_000, now: t0 });
    expect(claimed).toHaveLength(3);

    // Only what this worker holds is released.
    expect(await releaseTasks(f.handle, 'other', [ids[0]!])).toEqual([]);
    const released = await releaseTasks(f.handle, 'w', [ids[0]!, ids[1]!]);
    expect(new Set(released)).toEqual(new Set([ids[0], ids[1]]));
    expect(await taskRow(f, ids[0]!)).toMatchObject({
      status: 'PENDING',
      retry_count: 0,
      lease_epoch: 1,
      locked_by: null,
      locked_until: null,
    });
    expect((await assignmentsOf(f, ids[0]!)).map((x) => x.status)).toEqual(['released']);
    expect(await assignmentsOf(f, ids[2]!)).toEqual([]);

    const again = await claimTasks(f.handle, { workerId: 'v', limit: 3, leaseMs: 10_000, now: at(t0, 1) });
    expect(again.map((t) => t.id)).toEqual([ids[0], ids[1]]);
    expect(again.map((t) => [t.attempt, t.leaseEpoch])).toEqual([
      [1, 2],
      [1, 2],
    ]);
    // The old claim's epoch no longer completes.
    expect((await completeTasks(f.handle, [{ id: ids[0]!, leaseEpoch: 1, output: null }])).rejected).toEqual([
      ids[0],
    ]);
  });
});
