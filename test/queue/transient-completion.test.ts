import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { claimTasks, completeTasks } from '../../src/queue/index.js';
import { DIALECTS } from '../helpers/databases.js';
import {
  closeQueueFixture,
  emptyQueue,
  enqueue,
  later,
  openQueueFixture,
  taskRow,
  type QueueFixture,
} from './helpers.js';

/** What the database client throws when PostgreSQL restarts, or picks a deadlock's victim. */
const restarting = () =>
  Object.assign(new Error('terminating connection due to administrator command'), {
    code: '57P01',
    severity: 'FATAL',
  });
const deadlock = () => Object.assign(new Error('deadlock detected'), { code: '40P01', severity: 'ERROR' });

/**
 * Found by the chaos suite: across a PostgreSQL restart, completions that could not be written
 * were failed as if they were poison ("recording the result failed: the database system is
 * shutting down"), failing healthy steps with `max_attempts: 1` and their runs. The database's
 * passing trouble is not the completion's: it stays unrecorded, the task keeps its attempt, and
 * its holder (or, once the lease runs out, another worker) completes it.
 */
describe.each(DIALECTS)('a completion the database could not take for a moment, on %s', (dialect) => {
  let f: QueueFixture;
  beforeAll(async () => {
    f = await openQueueFixture(dialect);
  });
  afterAll(() => closeQueueFixture(f));
  beforeEach(() => emptyQueue(f));

  for (const [what, error] of [
    ['the database restarting', restarting],
    ['a deadlock', deadlock],
  ] as const) {
    it(`is not failed on ${what}: it stays running with its attempt, and completes later`, async () => {
      // One attempt only (max_attempts: 1): failing it would fail the step.
      const [id] = await enqueue(f, [{ maxRetries: 0 }]);
      const [task] = await claimTasks(f.handle, { workerId: 'w', limit: 1, leaseMs: 60_000, now: later() });
      const completion = { id: id!, leaseEpoch: task!.leaseEpoch, output: { ok: true } };

      // Thrown to the caller rather than split: the trouble is the database's, not the task's,
      // so nothing is recorded and the completion may be sent again.
      await expect(
        completeTasks(f.handle, [completion], {
          onCompleted: async () => {
            throw error();
          },
        }),
      ).rejects.toThrow(error().message);
      expect(await taskRow(f, id!)).toMatchObject({ status: 'RUNNING', retry_count: 0, result_data: null });

      // Sent again once the database is back, under the same lease: it is recorded.
      expect((await completeTasks(f.handle, [completion])).completed).toEqual([id]);
      expect(await taskRow(f, id!)).toMatchObject({ status: 'COMPLETED' });
    });
  }

  it('still fails an attempt whose completion the database refuses for good', async () => {
    const [id] = await enqueue(f, [{ maxRetries: 0 }]);
    const [task] = await claimTasks(f.handle, { workerId: 'w', limit: 1, leaseMs: 60_000, now: later() });
    const result = await completeTasks(f.handle, [{ id: id!, leaseEpoch: task!.leaseEpoch, output: {} }], {
      onCompleted: async () => {
        throw Object.assign(new Error('value too long'), { code: '22001', severity: 'ERROR' });
      },
    });
    expect(result.failed).toEqual([
      { id, error: 'recording the result failed: value too long', outcome: 'failed' },
    ]);
    expect(await taskRow(f, id!)).toMatchObject({ status: 'FAILED' });
  });
});
