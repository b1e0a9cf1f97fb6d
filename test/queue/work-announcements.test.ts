import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TASKS_CHANNEL } from '../../src/queue/index.js';
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
  enqueue,
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
});
