import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimTasks, completeTasks, type ClaimedTask } from '../../src/queue/index.js';
import { openDatabase, type DatabaseHandle } from '../../src/storage/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { closeQueueFixture, enqueue, later, openQueueFixture, type QueueFixture } from './helpers.js';

const TASKS = 500;

/** Claims in batches until the queue answers empty; returns every task it got. */
async function drain(handle: DatabaseHandle, workerId: string, now: Date): Promise<ClaimedTask[]> {
  const got: ClaimedTask[] = [];
  for (;;) {
    const batch = await claimTasks(handle, { workerId, limit: 7, leaseMs: 60_000, now });
    if (batch.length === 0) return got;
    got.push(...batch);
  }
}

describe.each(DIALECTS)('concurrent claimers on %s', (dialect) => {
  let f: QueueFixture;
  let second: DatabaseHandle;
  beforeAll(async () => {
    f = await openQueueFixture(dialect);
    // PostgreSQL: a second pool, as a second worker process would have. SQLite has one writer
    // per file and better-sqlite3 blocks the thread, so its claimers share the one handle and
    // BEGIN IMMEDIATE serialises them.
    second = dialect === 'postgres' ? await openDatabase(f.testDb.url) : f.handle;
  });
  afterAll(async () => {
    if (second !== f.handle) await second.close();
    await closeQueueFixture(f);
  });

  it(`never gives one task to two claimers (${TASKS} tasks)`, async () => {
    const ids = await enqueue(
      f,
      Array.from({ length: TASKS }, (_, i) => ({ priority: 1 + (i % 10) })),
    );
    const now = later();
    // Three claim loops per handle, all at once: six claimers on PostgreSQL over two pools.
    const claimers = [f.handle, second].flatMap((handle, h) =>
      [1, 2, 3].map((n) => ({ handle, workerId: `${h === 0 ? 'a' : 'b'}${n}` })),
    );
    const results = await Promise.all(claimers.map((c) => drain(c.handle, c.workerId, now)));
    const holder = new Map<string, string>();
    const twice: string[] = [];
    results.forEach((tasks, i) => {
      for (const task of tasks) {
        if (holder.has(task.id)) twice.push(task.id);
        holder.set(task.id, claimers[i]!.workerId);
      }
    });
    expect(twice).toEqual([]);
    expect(new Set(holder.keys())).toEqual(new Set(ids));
    expect(results.flat()).toHaveLength(TASKS);
    if (dialect === 'postgres') {
      // Both pools really claimed: SKIP LOCKED let them work side by side.
      const perPool = (p: string) =>
        results.filter((_, i) => claimers[i]!.workerId.startsWith(p)).flat().length;
      expect(perPool('a')).toBeGreaterThan(0);
      expect(perPool('b')).toBeGreaterThan(0);
    }

    const rows = await f.handle.db
      .selectFrom('tasks')
      .select(['id', 'status', 'locked_by', 'lease_epoch'])
      .execute();
    for (const row of rows) {
      expect(row).toMatchObject({
        status: 'RUNNING',
        lease_epoch: 1,
        locked_by: holder.get(row.id),
      });
    }
    // Running attempts have no assignment rows yet: they are written as the attempts end.
    expect(await f.handle.db.selectFrom('worker_assignments').select('id').execute()).toEqual([]);

    // All complete their batches concurrently: every task completed once.
    const done = await Promise.all(
      results.map((tasks, i) =>
        completeTasks(
          claimers[i]!.handle,
          tasks.map((t) => ({ id: t.id, leaseEpoch: t.leaseEpoch, output: { by: claimers[i]!.workerId } })),
        ),
      ),
    );
    expect(done.flatMap((d) => d.completed)).toHaveLength(TASKS);
    expect(done.flatMap((d) => d.rejected)).toEqual([]);
    const completed = await f.handle.db
      .selectFrom('tasks')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('status', '=', 'COMPLETED')
      .executeTakeFirstOrThrow();
    expect(Number(completed.n)).toBe(TASKS);
  });
});
