import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  cancelTasks,
  claimTasks,
  NEVER,
  resolveWaitpoint,
  sleepTask,
  waitpointOf,
} from '../../src/queue/index.js';
import { readWaitpoint } from '../../src/worker/waitpoints.js';
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

describe.each(DIALECTS)('waitpoints on %s', (dialect) => {
  let f: QueueFixture;
  beforeAll(async () => {
    f = await openQueueFixture(dialect);
  });
  afterAll(() => closeQueueFixture(f));
  beforeEach(async () => {
    await f.handle.db.deleteFrom('waitpoints').execute();
    await emptyQueue(f);
  });

  /** A task claimed and put to wait for an approval (timeout: `timeoutMs` from t0, or none). */
  async function waiting(t0: Date, timeoutMs?: number) {
    const [id] = await enqueue(f, [{}]);
    await claimTasks(f.handle, { workerId: 'A', limit: 1, leaseMs: 1000, now: t0 });
    const timeoutAt = timeoutMs === undefined ? undefined : at(t0, timeoutMs);
    const owner = { ownerId: f.ownerId, runId: null, stepId: 'review' };
    const request = {
      key: 'approval',
      kind: 'approval' as const,
      spec: { message: 'ship it?' },
      onTimeout: 'reject' as const,
      ...(timeoutAt === undefined ? {} : { timeoutAt }),
    };
    const held = await sleepTask(
      f.handle,
      {
        id: id!,
        leaseEpoch: 1,
        until: timeoutAt ?? NEVER,
        state: { waiting: true },
        waitpoint: { owner, request },
      },
      t0,
    );
    expect(held).toBe(true);
    return { id: id!, waitpoint: (await waitpointOf(f.handle, id!, 'approval'))! };
  }

  it('holds no lease while waiting, and one of two racing resolutions wins and wakes the task', async () => {
    const t0 = later();
    const { id, waitpoint } = await waiting(t0);
    expect(waitpoint).toMatchObject({ status: 'waiting', kind: 'approval', spec: { message: 'ship it?' } });
    expect(await taskRow(f, id)).toMatchObject({
      status: 'PENDING',
      locked_by: null,
      run_at: NEVER.toISOString(),
    });
    expect(
      await claimTasks(f.handle, { workerId: 'B', limit: 1, leaseMs: 1000, now: at(t0, 86_400_000) }),
    ).toEqual([]);

    const decide = (decision: string) =>
      resolveWaitpoint(
        f.handle,
        { id: waitpoint.id, ownerId: f.ownerId, status: 'resolved', result: { decision }, resolvedBy: 'u1' },
        at(t0, 10),
      );
    const outcomes = await Promise.all([decide('approve'), decide('reject'), decide('approve')]);
    const winners = outcomes.filter((o) => o !== null);
    expect(winners).toHaveLength(1);
    const settled = (await waitpointOf(f.handle, id, 'approval'))!;
    expect(settled).toMatchObject({ status: 'resolved', resolvedBy: 'u1', result: winners[0]!.result });

    const [resumed] = await claimTasks(f.handle, { workerId: 'B', limit: 1, leaseMs: 1000, now: at(t0, 20) });
    expect(resumed).toMatchObject({ id, resumeState: { waiting: true } });
    expect(await readWaitpoint(f.handle, { id, ownerId: f.ownerId }, 'approval')).toMatchObject({
      status: 'resolved',
      result: winners[0]!.result,
    });
  });

  it('is not resolved for another owner', async () => {
    const { waitpoint } = await waiting(later());
    const other = await resolveWaitpoint(f.handle, {
      id: waitpoint.id,
      ownerId: 'someone-else',
      status: 'resolved',
      result: {},
      resolvedBy: 'x',
    });
    expect(other).toBeNull();
    expect((await waitpointOf(f.handle, waitpoint.taskId, 'approval'))!.status).toBe('waiting');
  });

  it('times out once when its task is claimed at the timeout; a later decision is refused', async () => {
    const t0 = later();
    const { id, waitpoint } = await waiting(t0, 5000);
    expect(await claimTasks(f.handle, { workerId: 'B', limit: 1, leaseMs: 1000, now: at(t0, 4999) })).toEqual(
      [],
    );
    const [resumed] = await claimTasks(f.handle, {
      workerId: 'B',
      limit: 1,
      leaseMs: 1000,
      now: at(t0, 5000),
    });
    expect(resumed!.id).toBe(id);
    const outcome = await readWaitpoint(f.handle, { id, ownerId: f.ownerId }, 'approval', at(t0, 5000));
    expect(outcome).toMatchObject({ status: 'timed_out', onTimeout: 'reject', resolvedBy: 'timeout' });
    const late = await resolveWaitpoint(f.handle, {
      id: waitpoint.id,
      ownerId: f.ownerId,
      status: 'resolved',
      result: { decision: 'approve' },
      resolvedBy: 'u1',
    });
    expect(late).toBeNull();
  });

  it('finds its waitpoint again when an attempt runs again, and wakes at once if it was settled', async () => {
    const t0 = later();
    const { id, waitpoint } = await waiting(t0, 60_000);
    await resolveWaitpoint(f.handle, {
      id: waitpoint.id,
      ownerId: f.ownerId,
      status: 'resolved',
      result: { decision: 'approve' },
      resolvedBy: 'u1',
    });
    const [again] = await claimTasks(f.handle, { workerId: 'B', limit: 1, leaseMs: 1000, now: at(t0, 1) });
    const owner = { ownerId: f.ownerId, runId: null, stepId: 'review' };
    await sleepTask(
      f.handle,
      {
        id,
        leaseEpoch: again!.leaseEpoch,
        until: at(t0, 60_000),
        state: {},
        waitpoint: { owner, request: { key: 'approval', kind: 'approval', spec: {} } },
      },
      at(t0, 2),
    );
    const rows = await f.handle.db.selectFrom('waitpoints').select('id').where('task_id', '=', id).execute();
    expect(rows.map((r) => r.id)).toEqual([waitpoint.id]);
    expect((await taskRow(f, id)).run_at).toBe(at(t0, 2).toISOString());
  });

  it('is cancelled with its task', async () => {
    const { id } = await waiting(later());
    await cancelTasks(f.handle, { ids: [id] }, 'tester', 'no longer needed');
    expect(await waitpointOf(f.handle, id, 'approval')).toMatchObject({
      status: 'cancelled',
      resolvedBy: 'system',
    });
  });
});
