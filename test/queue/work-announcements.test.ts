import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimTasks, reclaimExpiredLeases, releaseTasks, TASKS_CHANNEL } from '../../src/queue/index.js';
import {
  announcementOf,
  noteAnnouncedWork,
  noteNoKeyedWork,
  noteNoUnkeyedWork,
  shouldLookForKeyedWork,
  unkeyedRecentlyEmpty,
} from '../../src/queue/flow/index.js';
import type { DatabaseHandle } from '../../src/storage/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { until } from '../helpers/until.js';
import {
  closeOtherHandle,
  closeQueueFixture,
  emptyQueue,
  enqueue,
  later,
  openOtherHandle,
  openQueueFixture,
  ownerConcurrency,
  type QueueFixture,
} from './helpers.js';

// A worker that found no keyed work skips the keyed look for a second (PROBE_MS). Keyed work
// another process enqueues must end that pause as soon as it is committed: the enqueue's
// notification says which kinds it queued, and the worker notes them (src/worker/worker.ts).
describe('what a worker notes of an announced enqueue', () => {
  it('ends the keyed pause for keyed work, and only the unkeyed one for unkeyed work', () => {
    noteNoKeyedWork();
    noteNoUnkeyedWork();
    noteAnnouncedWork(announcementOf({ keyed: false, unkeyed: true }));
    expect(shouldLookForKeyedWork()).toBe(false);
    expect(unkeyedRecentlyEmpty()).toBe(false);
    noteNoUnkeyedWork();
    noteAnnouncedWork(announcementOf({ keyed: true, unkeyed: false }));
    expect(shouldLookForKeyedWork()).toBe(true);
    expect(unkeyedRecentlyEmpty()).toBe(true);
  });

  it('takes a notification without a payload (another wake, a listener reconnected) as either kind', () => {
    noteNoKeyedWork();
    noteNoUnkeyedWork();
    noteAnnouncedWork('');
    expect(shouldLookForKeyedWork()).toBe(true);
    expect(unkeyedRecentlyEmpty()).toBe(false);
  });
});

describe.each(DIALECTS)('the announcements of enqueues on %s', (dialect) => {
  let f: QueueFixture;
  let listener: DatabaseHandle;
  let stop: (() => Promise<void>) | null = null;
  const heard: string[] = [];
  beforeAll(async () => {
    f = await openQueueFixture(dialect);
    listener = await openOtherHandle(f);
    stop = await listener.listen(TASKS_CHANNEL, (payload) => heard.push(payload));
  });
  afterAll(async () => {
    await stop?.();
    await closeOtherHandle(f, listener);
    await closeQueueFixture(f);
  });

  it('name the kinds of work each enqueue queued, once it is committed', async () => {
    const limit = ownerConcurrency(f.ownerId, 'k', 1);
    await enqueue(f, [{ flow: [limit] }]);
    await until('announcement 1', async () => heard.length === 1);
    await enqueue(f, [{}]);
    await until('announcement 2', async () => heard.length === 2);
    await enqueue(f, [{ flow: [limit] }, {}]);
    await until('announcement 3', async () => heard.length === 3);
    expect(heard).toEqual(['keyed', 'unkeyed', 'keyed,unkeyed']);
  });

  // Tasks back on the queue are claimable at once: a worker paused on keyed work (PROBE_MS)
  // must hear of them as of an enqueue, or a keyed task a crashed worker held waits a second more.
  it('name the kinds of work a reclaim of expired leases and a release put back', async () => {
    await emptyQueue(f);
    heard.length = 0;
    const limit = ownerConcurrency(f.ownerId, 'back', 5);
    await enqueue(f, [{ flow: [limit] }, { flow: [limit] }, {}]);
    await until('the enqueue announced', async () => heard.length === 1);
    heard.length = 0;
    const claimed = await claimTasks(f.handle, { workerId: 'w1', limit: 10, leaseMs: 50 });
    expect(claimed).toHaveLength(3);
    const keyed = claimed.filter((task) => task.concurrencyKey !== null);
    expect(keyed).toHaveLength(2);

    // A stopping worker hands one keyed task back: only keyed work was put back.
    expect(await releaseTasks(f.handle, 'w1', [keyed[0]!.id])).toEqual([keyed[0]!.id]);
    await until('the release announced', async () => heard.length === 1);
    expect(heard).toEqual(['keyed']);

    // The other two leases run out: a reclaim puts back a keyed and an unkeyed task.
    const reclaimed = await reclaimExpiredLeases(f.handle, later(60_000));
    expect(reclaimed.sort()).toEqual(
      claimed
        .filter((t) => t.id !== keyed[0]!.id)
        .map((t) => t.id)
        .sort(),
    );
    await until('the reclaim announced', async () => heard.length === 2);
    expect(heard).toEqual(['keyed', 'keyed,unkeyed']);

    // Nothing put back, nothing announced: a reclaim and a release that find no task.
    expect(await reclaimExpiredLeases(f.handle, later(60_000))).toEqual([]);
    expect(await releaseTasks(f.handle, 'w1', [keyed[0]!.id])).toEqual([]);
    await enqueue(f, [{}]);
    await until('the next enqueue announced', async () => heard.length === 3);
    expect(heard[2]).toBe('unkeyed');
  });
});
