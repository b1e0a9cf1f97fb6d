import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import {
  cancelTasks,
  claimTasks,
  completeTasks,
  enqueueTasks,
  failTask,
  reclaimExpiredLeases,
  releaseTasks,
  sleepTask,
  type ClaimedTask,
  type NewTask,
} from '../../src/queue/index.js';
import {
  flowKey,
  noteNoUnkeyedWork,
  noteUnkeyedWork,
  unkeyedRecentlyEmpty,
  UNKEYED_PAUSE_MS,
  type FlowLimit,
} from '../../src/queue/flow/index.js';
import { InputError } from '../../src/errors/index.js';
import { openDatabase, toDbTimestamp, type DatabaseHandle } from '../../src/storage/index.js';
import { DIALECTS } from '../helpers/databases.js';
import {
  at,
  closeQueueFixture,
  enqueue,
  later,
  openQueueFixture,
  ownerConcurrency as concurrency,
  PULL_FILTER_TASKS,
  taskRow,
  type QueueFixture,
} from './helpers.js';

async function runningPerKey(handle: DatabaseHandle): Promise<Map<string, number>> {
  const rows = await handle.db
    .selectFrom('tasks')
    .select(['concurrency_key', (eb) => eb.fn.countAll<number | string>().as('n')])
    .where('status', '=', 'RUNNING')
    .where('concurrency_key', 'is not', null)
    .groupBy('concurrency_key')
    .execute();
  return new Map(rows.map((row) => [row.concurrency_key!, Number(row.n)]));
}

async function unfinished(handle: DatabaseHandle): Promise<number> {
  const row = await handle.db
    .selectFrom('tasks')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('status', 'in', ['PENDING', 'RUNNING'])
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

const pause = () => new Promise((resolve) => setTimeout(resolve, 2));

describe.each(DIALECTS)('flow control in the claim on %s', (dialect) => {
  let f: QueueFixture;
  let second: DatabaseHandle;
  beforeAll(async () => {
    f = await openQueueFixture(dialect);
    // PostgreSQL: a second pool, as a second worker process has (see concurrency.test.ts).
    second = dialect === 'postgres' ? await openDatabase(f.testDb.url) : f.handle;
  });
  afterAll(async () => {
    if (second !== f.handle) await second.close();
    await closeQueueFixture(f);
  });
  beforeEach(async () => {
    for (const table of ['worker_assignments', 'flow_slots', 'flow_starts', 'tasks', 'flow_keys'] as const)
      await f.handle.db.deleteFrom(table).execute();
    await f.handle.db.updateTable('users').set({ max_running_tasks: null }).execute();
  });

  it('never has a third task running under a key of limit 2 (2000 tasks, 4 claimers)', async () => {
    const keys = ['a', 'b', 'c', 'd'].map((value) => concurrency(f.ownerId, value, 2));
    await enqueue(
      f,
      Array.from({ length: 2000 }, (_, i) => ({ flow: [keys[i % keys.length]!], priority: 1 + (i % 3) })),
    );
    const now = later();
    let worst = 0;
    let claims = 0;
    const claimer = async (handle: DatabaseHandle, workerId: string) => {
      const done: string[] = [];
      for (;;) {
        const got = await claimTasks(handle, { workerId, limit: 4, leaseMs: 60_000, now });
        claims++;
        // Checked from the database at every claim, while the other claimers run.
        for (const n of (await runningPerKey(handle)).values()) worst = Math.max(worst, n);
        if (got.length === 0) {
          if ((await unfinished(handle)) === 0) return done;
          await pause();
          continue;
        }
        await completeTasks(
          handle,
          got.map((task) => ({ id: task.id, leaseEpoch: task.leaseEpoch, output: null })),
        );
        done.push(...got.map((task) => task.id));
      }
    };
    const results = await Promise.all([
      claimer(f.handle, 'w1'),
      claimer(second, 'w2'),
      claimer(f.handle, 'w3'),
      claimer(second, 'w4'),
    ]);
    const all = results.flat();
    expect(all).toHaveLength(2000);
    expect(new Set(all).size).toBe(2000);
    expect(worst).toBeLessThanOrEqual(2);
    expect(worst).toBe(2);
    expect(claims).toBeGreaterThan(0);
  }, 240_000);

  it('holds a rate limit of 10 a second across two claimers', async () => {
    const key: FlowLimit = {
      key: flowKey('rate', 'owner', { ownerId: f.ownerId }, 'api'),
      scope: 'owner',
      rate: { limit: 10, periodMs: 1000 },
    };
    await enqueue(
      f,
      Array.from({ length: 60 }, () => ({ flow: [key] })),
    );
    const t0 = later();
    const starts: number[] = [];
    // A simulated clock, 100 ms a tick: the claims pass `now`, so nothing depends on timing.
    for (let tick = 0; tick < 50; tick++) {
      const now = at(t0, tick * 100);
      const got = await Promise.all(
        [f.handle, second].map((handle, i) =>
          claimTasks(handle, { workerId: `r${i}`, limit: 8, leaseMs: 60_000, now }),
        ),
      );
      for (let n = got.flat().length; n > 0; n--) starts.push(now.getTime());
    }
    expect(starts.length).toBeGreaterThanOrEqual(40);
    for (const s of starts)
      expect(starts.filter((t) => t >= s && t < s + 1000).length).toBeLessThanOrEqual(10);
    // The first second used its whole allowance.
    expect(starts.filter((t) => t < t0.getTime() + 1000)).toHaveLength(10);
  });

  it('lets keyed work go first while the unkeyed queue was just seen empty, never past a claim’s room', async () => {
    noteUnkeyedWork();
    const key = concurrency(f.ownerId, 'roomy', 10);
    const keyed = await enqueue(
      f,
      Array.from({ length: 3 }, () => ({ flow: [key] })),
    );
    const now = later();
    // A filtered look (a pull agent's) that finds nothing says nothing of the whole queue.
    await claimTasks(f.handle, { workerId: 'w', limit: 5, leaseMs: 60_000, now, ownerId: 'nobody' });
    expect(unkeyedRecentlyEmpty()).toBe(false);
    const first = await claimTasks(f.handle, { workerId: 'w', limit: 5, leaseMs: 60_000, now });
    expect(first.map((task) => task.id).sort()).toEqual([...keyed].sort());
    expect(unkeyedRecentlyEmpty()).toBe(true);
    // Unkeyed work another process enqueued (this one was not told): a claim with room left after
    // the keyed work still looks at the unkeyed queue and takes it.
    const [elsewhere] = await enqueue(f, [{}]);
    noteNoUnkeyedWork();
    const [more] = await enqueue(f, [{ flow: [key] }]);
    const second = await claimTasks(f.handle, { workerId: 'w', limit: 5, leaseMs: 60_000, now });
    expect(second.map((task) => task.id).sort()).toEqual([elsewhere, more].sort());
    // Unkeyed work enqueued in this process ends the pause at once; otherwise it ends by itself.
    noteNoUnkeyedWork();
    await enqueue(f, [{}]);
    expect(unkeyedRecentlyEmpty()).toBe(false);
    noteNoUnkeyedWork();
    await new Promise((resolve) => setTimeout(resolve, UNKEYED_PAUSE_MS + 20));
    expect(unkeyedRecentlyEmpty()).toBe(false);
  });

  it('parks what a full key refuses, and ready unkeyed work still starts', async () => {
    const key = concurrency(f.ownerId, 'one', 1);
    const keyed = await enqueue(
      f,
      Array.from({ length: 50 }, () => ({ flow: [key], priority: 9 })),
    );
    const [plain] = await enqueue(f, [{ priority: 1 }]);
    const now = later();
    const first = await claimTasks(f.handle, { workerId: 'w', limit: 5, leaseMs: 60_000, now });
    const second = await claimTasks(f.handle, { workerId: 'w', limit: 5, leaseMs: 60_000, now });
    const got = [...first, ...second].map((task) => task.id);
    expect(got).toContain(plain);
    expect(got.filter((id) => keyed.includes(id))).toEqual([keyed[0]]);
    expect((await taskRow(f, keyed[1]!)).parked_key).toBe(key.key);
    expect(await claimTasks(f.handle, { workerId: 'w', limit: 5, leaseMs: 60_000, now })).toEqual([]);
  });

  it('gives a killed worker’s slots back when its lease is reclaimed', async () => {
    const key = concurrency(f.ownerId, 'k', 1);
    const ids = await enqueue(f, [{ flow: [key] }, { flow: [key] }]);
    const now = later();
    const [held] = await claimTasks(f.handle, { workerId: 'dead', limit: 2, leaseMs: 1000, now });
    expect(held?.id).toBe(ids[0]);
    expect(await claimTasks(f.handle, { workerId: 'alive', limit: 2, leaseMs: 60_000, now })).toEqual([]);
    // The worker died (kill -9): nothing decrements anything; the lease just runs out.
    const afterLease = at(now, 5000);
    expect(await reclaimExpiredLeases(f.handle, afterLease)).toEqual([ids[0]]);
    const got = await claimTasks(f.handle, {
      workerId: 'alive',
      limit: 2,
      leaseMs: 60_000,
      now: at(afterLease, 5000),
    });
    expect(got).toHaveLength(1);
    expect(await runningPerKey(f.handle)).toEqual(new Map([[key.key, 1]]));
  });

  it('cancels a parked task, and its key starts the next', async () => {
    const key = concurrency(f.ownerId, 'k', 1);
    const ids = await enqueue(f, [{ flow: [key] }, { flow: [key] }, { flow: [key] }]);
    const now = later();
    const [first] = await claimTasks(f.handle, { workerId: 'w', limit: 3, leaseMs: 60_000, now });
    expect(first?.id).toBe(ids[0]);
    expect((await taskRow(f, ids[1]!)).parked_key).toBe(key.key);
    expect(await cancelTasks(f.handle, { ids: [ids[1]!] }, f.ownerId, 'not needed')).toEqual([ids[1]]);
    expect((await taskRow(f, ids[1]!)).status).toBe('CANCELLED');
    await completeTasks(f.handle, [{ id: first!.id, leaseEpoch: first!.leaseEpoch, output: 1 }]);
    const next = await claimTasks(f.handle, { workerId: 'w', limit: 3, leaseMs: 60_000, now });
    expect(next.map((task) => task.id)).toEqual([ids[2]]);
    // A task counts against its first key from its own row: no slot is ever written for it.
    expect(await f.handle.db.selectFrom('flow_slots').selectAll().execute()).toEqual([]);
  });

  it('holds a slot of a task’s second key while it runs, and prunes it once it ended', async () => {
    const step = concurrency(f.ownerId, 'step', 5);
    const shared = concurrency(f.ownerId, 'shared', 1);
    const ids = await enqueue(f, [{ flow: [step, shared] }, { flow: [shared] }, { flow: [step, shared] }]);
    const now = later();
    const [first] = await claimTasks(f.handle, { workerId: 'w', limit: 3, leaseMs: 60_000, now });
    expect(first?.id).toBe(ids[0]);
    const slots = () => f.handle.db.selectFrom('flow_slots').select(['key', 'task_id']).execute();
    expect(await slots()).toEqual([{ key: shared.key, task_id: ids[0] }]);
    // `shared` is full: its own task (first key) and the other two-key task wait.
    expect(await claimTasks(f.handle, { workerId: 'w', limit: 3, leaseMs: 60_000, now })).toEqual([]);
    await completeTasks(f.handle, [{ id: first!.id, leaseEpoch: first!.leaseEpoch, output: 1 }]);
    const [second] = await claimTasks(f.handle, { workerId: 'w', limit: 3, leaseMs: 60_000, now });
    expect(second?.id).toBe(ids[1]);
    // The ended task's slot was pruned under the key's lock; the task running now holds none.
    expect(await slots()).toEqual([]);
    expect(await claimTasks(f.handle, { workerId: 'w', limit: 3, leaseMs: 60_000, now })).toEqual([]);
    await completeTasks(f.handle, [{ id: second!.id, leaseEpoch: second!.leaseEpoch, output: 1 }]);
    const [third] = await claimTasks(f.handle, { workerId: 'w', limit: 3, leaseMs: 60_000, now });
    expect(third?.id).toBe(ids[2]);
    expect(await slots()).toEqual([{ key: shared.key, task_id: ids[2] }]);
  });

  it('parks a keyed task back on the queue under its first key, and claims it under its limits', async () => {
    const key = concurrency(f.ownerId, 'k', 1);
    const other = concurrency(f.ownerId, 'other', 5);
    const [a, b] = await enqueue(f, [{ flow: [key] }, { flow: [key, other] }]);
    const now = later();
    const claim = async (when: Date) =>
      (await claimTasks(f.handle, { workerId: 'w', limit: 5, leaseMs: 1000, now: when })).map((task) => ({
        id: task.id,
        leaseEpoch: task.leaseEpoch,
      }));
    const parkedUnder = async (id: string) => {
      const row = await taskRow(f, id);
      return row.status === 'PENDING' ? row.parked_key : row.status;
    };
    const [first] = await claim(now);
    expect(first?.id).toBe(a);
    // Released (a worker shutting down): parked again, not running, the other one still waits.
    expect(await releaseTasks(f.handle, 'w', [a!], now)).toEqual([a]);
    expect(await parkedUnder(a!)).toBe(key.key);
    const [again] = await claim(now);
    expect(again?.id).toBe(a);
    // Asleep until a second later: parked, and `b` (older now) starts in its place, alone.
    expect(await sleepTask(f.handle, { ...again!, until: at(now, 1000), state: null }, now)).toBe(true);
    expect(await parkedUnder(a!)).toBe(key.key);
    const woken = at(now, 2000);
    expect((await claim(woken)).map((task) => task.id)).toEqual([b]);
    // A failed attempt to be retried: parked under its first key, `key`, not `other`.
    const [running] = await claimTasksRunning();
    expect(
      await failTask(f.handle, { ...running!, error: 'boom' }, {}, { now: woken, random: () => 0 }),
    ).toBe('retrying');
    expect(await parkedUnder(b!)).toBe(key.key);
    expect(await runningPerKey(f.handle)).toEqual(new Map());
    const [next] = await claim(at(woken, 60_000));
    expect(await runningPerKey(f.handle)).toEqual(new Map([[key.key, 1]]));
    // The lease runs out (kill -9): reclaimed, parked again, and claimable under its key.
    expect(await reclaimExpiredLeases(f.handle, at(woken, 62_000))).toEqual([next!.id]);
    expect(await parkedUnder(next!.id)).toBe(key.key);
    expect(await claim(at(woken, 63_000))).toHaveLength(1);
    expect(await runningPerKey(f.handle)).toEqual(new Map([[key.key, 1]]));

    async function claimTasksRunning() {
      const rows = await f.handle.db
        .selectFrom('tasks')
        .select(['id', 'lease_epoch'])
        .where('status', '=', 'RUNNING')
        .execute();
      return rows.map((row) => ({ id: row.id, leaseEpoch: row.lease_epoch }));
    }
  });

  it('looks at once under a key its own claim just parked a task under', async () => {
    const roomy = concurrency(f.ownerId, 'roomy', 5);
    const single = concurrency(f.ownerId, 'single', 1);
    const now = later();
    const [a] = await enqueue(f, [{ flow: [single] }]);
    const [held] = await claimTasks(f.handle, { workerId: 'w', limit: 5, leaseMs: 60_000, now });
    expect(held?.id).toBe(a);
    // B waits under `roomy` (its first key); `single` has no parked task when the next claim
    // scans the parked keys, so only that claim's parking tells later claims to look under it.
    const [b] = await enqueue(f, [{ flow: [roomy, single] }]);
    expect(await claimTasks(f.handle, { workerId: 'w', limit: 5, leaseMs: 60_000, now })).toEqual([]);
    expect((await taskRow(f, b!)).parked_key).toBe(single.key);
    await completeTasks(f.handle, [{ id: held!.id, leaseEpoch: held!.leaseEpoch, output: 1 }]);
    const next = await claimTasks(f.handle, { workerId: 'w', limit: 5, leaseMs: 60_000, now });
    expect(next.map((task) => task.id)).toEqual([b]);
  });

  it('fills a claim from the other keys of a round when one key has fewer parked than its room', async () => {
    const short = concurrency(f.ownerId, 'short', 10);
    const long = concurrency(f.ownerId, 'long', 10);
    // The round starts at a random key: eight tries leave 1 in 256 for `short` never to go first.
    for (let attempt = 0; attempt < 8; attempt++) {
      await f.handle.db.deleteFrom('flow_slots').execute();
      await f.handle.db.deleteFrom('tasks').execute();
      await enqueue(f, [{ flow: [short] }, ...Array.from({ length: 5 }, () => ({ flow: [long] }))]);
      const got = await claimTasks(f.handle, { workerId: 'w', limit: 5, leaseMs: 60_000, now: later() });
      expect(got).toHaveLength(5);
    }
  });

  it('applies an owner quota an admin set to unkeyed tasks', async () => {
    await f.handle.db
      .updateTable('users')
      .set({ max_running_tasks: 2 })
      .where('id', '=', f.ownerId)
      .execute();
    await enqueue(
      f,
      Array.from({ length: 5 }, () => ({})),
    );
    const now = later();
    const got = await claimTasks(f.handle, { workerId: 'w', limit: 10, leaseMs: 60_000, now });
    expect(got).toHaveLength(2);
    expect(await claimTasks(f.handle, { workerId: 'w', limit: 10, leaseMs: 60_000, now })).toEqual([]);
    await completeTasks(f.handle, [{ id: got[0]!.id, leaseEpoch: got[0]!.leaseEpoch, output: 1 }]);
    expect(await claimTasks(f.handle, { workerId: 'w', limit: 10, leaseMs: 60_000, now })).toHaveLength(1);
  });

  it('gives every key its turn when more keys are parked than a claim scans (300 keys)', async () => {
    const keys = Array.from({ length: 300 }, (_, k) =>
      concurrency(f.ownerId, `k${String(k).padStart(3, '0')}`, 1),
    );
    await enqueue(
      f,
      keys.flatMap((key) => [{ flow: [key] }, { flow: [key] }]),
    );
    const now = later();
    for (let i = 0; i < 20; i++)
      await claimTasks(f.handle, { workerId: 'w', limit: 50, leaseMs: 60_000, now });
    const running = await runningPerKey(f.handle);
    expect(running.size).toBe(300);
    expect(Math.max(...running.values())).toBe(1);
  });

  it('starts owner B’s single task within one claim while owner A has 100,000 waiting', async () => {
    const other = await f.store.system.insertUserIfAbsent({
      name: 'B',
      email: 'b@example.com',
      role: 'member',
    });
    const old = toDbTimestamp(new Date(Date.now() - 3_600_000));
    // A's backlog, older than B's task and of the same priority: by priority and age alone,
    // B would wait for all of it.
    await sql`
      INSERT INTO tasks (id, owner_id, task_type, input_data, run_at)
      WITH RECURSIVE seq(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM seq WHERE g < 100000)
      SELECT 'a-' || g, ${f.ownerId}, 't', '{}', ${old} FROM seq`.execute(f.handle.db);
    await f.handle.dialect.analyze(f.handle.db as never, 'tasks');
    const [single] = await enqueueTasks(f.handle.db, f.handle.dialect, [
      { ownerId: other!.id, taskType: 't', input: {} },
    ]);
    // A worker that just started (its own pool): its first claim sees both owners.
    const fresh = await openDatabase(f.testDb.url);
    const got = await claimTasks(fresh, { workerId: 'w', limit: 4, leaseMs: 60_000, now: later() }).finally(
      () => fresh.close(),
    );
    expect(got).toHaveLength(4);
    expect(got.map((task) => task.id)).toContain(single);
    // Priorities still order work within an owner: A's share is its oldest.
    expect(got.filter((task) => task.ownerId === f.ownerId).every((task) => task.id.startsWith('a-'))).toBe(
      true,
    );
  }, 120_000);

  it('shares a claim between owners in proportion to their weights', async () => {
    const heavy = await f.store.system.insertUserIfAbsent({
      name: 'Heavy',
      email: 'heavy@example.com',
      role: 'member',
    });
    await f.handle.db.updateTable('users').set({ claim_weight: 3 }).where('id', '=', heavy!.id).execute();
    // Both owners with more ready work than one claim takes; the light one's is older.
    const old = toDbTimestamp(new Date(Date.now() - 3_600_000));
    await sql`
      INSERT INTO tasks (id, owner_id, task_type, input_data, run_at)
      WITH RECURSIVE seq(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM seq WHERE g < 20)
      SELECT 'light-' || g, ${f.ownerId}, 't', '{}', ${old} FROM seq`.execute(f.handle.db);
    await enqueueTasks(
      f.handle.db,
      f.handle.dialect,
      Array.from({ length: 20 }, () => ({ ownerId: heavy!.id, taskType: 't', input: {} })),
    );
    // A worker that just started (its own pool): its first claim sees both owners and weights.
    const fresh = await openDatabase(f.testDb.url);
    const got = await claimTasks(fresh, { workerId: 'w', limit: 8, leaseMs: 60_000, now: later() }).finally(
      () => fresh.close(),
    );
    const of = (ownerId: string) => got.filter((task) => task.ownerId === ownerId).length;
    expect({ heavy: of(heavy!.id), light: of(f.ownerId) }).toEqual({ heavy: 6, light: 2 });
  });

  it('claims keyed tasks only as a pull agent’s filter allows: its owner, the agent named, or its capabilities', async () => {
    const other = (await f.store.system.insertUserIfAbsent({
      name: 'Other',
      email: 'other-flow-filter@example.com',
      role: 'member',
    }))!;
    const key = concurrency(f.ownerId, 'filtered', 10);
    const now = later();
    const [named, byCap, otherName, otherCap, capButNamed, plain, low] = await enqueue(
      f,
      PULL_FILTER_TASKS.map((task) => ({ ...task, flow: [key] })),
    );
    const [foreign] = await enqueueTasks(f.handle.db, f.handle.dialect, [
      {
        ownerId: other.id,
        taskType: 'test',
        input: {},
        agentName: 'puller',
        priority: 10,
        flow: [concurrency(other.id, 'filtered', 10)],
      },
    ]);
    const claim = (filter: Pick<Parameters<typeof claimTasks>[1], 'ownerId' | 'only'>, limit = 10) =>
      claimTasks(f.handle, { workerId: 'agent:puller', limit, leaseMs: 60_000, now, ...filter });
    const only = { agentName: 'puller', capabilities: ['text:summarize', 'x:unused'] };

    // A filter naming nothing claims nothing; the owner's filter leaves the other owner's task.
    expect(await claim({ only: {} })).toEqual([]);
    expect((await claim({ ownerId: f.ownerId, only }, 2)).map((t) => t.id)).toEqual([byCap, named]);
    expect((await claim({ ownerId: f.ownerId, only })).map((t) => t.id)).toEqual([low]);
    for (const id of [otherName, otherCap, capButNamed, plain, foreign])
      expect((await taskRow(f, id!)).status).toBe('PENDING');
    // Only capabilities: the tasks naming no agent that require one of them.
    expect((await claim({ only: { capabilities: ['image:draw'] } })).map((t) => t.id)).toEqual([otherCap]);
    // Only an owner: all of its waiting tasks, none of the other owner's.
    expect((await claim({ ownerId: f.ownerId })).map((t) => t.id).sort()).toEqual(
      [otherName, capButNamed, plain].sort(),
    );
    expect((await taskRow(f, foreign!)).status).toBe('PENDING');
  });

  it('keeps priority and FIFO order within a key', async () => {
    const key = concurrency(f.ownerId, 'k', 1);
    const ids = await enqueue(f, [
      { flow: [key], priority: 2 },
      { flow: [key], priority: 8 },
      { flow: [key], priority: 2 },
    ]);
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      const [task] = (await claimTasks(f.handle, {
        workerId: 'w',
        limit: 3,
        leaseMs: 60_000,
        now: later(),
      })) as [ClaimedTask];
      order.push(task.id);
      await completeTasks(f.handle, [{ id: task.id, leaseEpoch: task.leaseEpoch, output: 1 }]);
    }
    expect(order).toEqual([ids[1], ids[0], ids[2]]);
  });

  it('refuses bad limits, naming the field, and writes nothing', async () => {
    const bad: Array<[Partial<NewTask>, string]> = [
      [{ flow: [{ ...concurrency(f.ownerId, 'k', 1), maxRunning: 0 }] }, 'tasks[0].flow[0].maxRunning'],
      [{ flow: [{ key: 'k', scope: 'galaxy' as never, maxRunning: 1 }] }, 'tasks[0].flow[0].scope'],
      [
        { flow: [{ key: 'k', scope: 'owner', rate: { limit: 5, periodMs: 0 } }] },
        'tasks[0].flow[0].rate.periodMs',
      ],
    ];
    for (const [task, field] of bad) {
      const error = await enqueue(f, [task]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InputError);
      expect((error as InputError).issues[0]?.field).toBe(field);
    }
    const count = await sql<{ n: number | string }>`SELECT count(*) AS n FROM tasks`.execute(f.handle.db);
    expect(Number(count.rows[0]!.n)).toBe(0);
  });
});
