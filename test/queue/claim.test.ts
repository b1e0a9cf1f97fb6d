import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  claimTasks,
  completeTasks,
  DEFAULT_RETRY_POLICY,
  enqueueTasks,
  failTask,
} from '../../src/queue/index.js';
import { InputError } from '../../src/errors/index.js';
import { DIALECTS } from '../helpers/databases.js';
import {
  assignmentsOf,
  at,
  closeQueueFixture,
  emptyQueue,
  enqueue,
  later,
  openQueueFixture,
  PULL_FILTER_TASKS,
  taskRow,
  type QueueFixture,
} from './helpers.js';

describe.each(DIALECTS)('enqueue and claim on %s', (dialect) => {
  let f: QueueFixture;
  beforeAll(async () => {
    f = await openQueueFixture(dialect);
  });
  afterAll(() => closeQueueFixture(f));
  beforeEach(() => emptyQueue(f));

  it('stores every field of a new task', async () => {
    const runAt = new Date('2030-01-02T03:04:05.678Z');
    const [id] = await enqueue(f, [
      {
        taskType: 'summarize',
        input: { text: 'hi "there" \\ {a,b} NULL', list: [1, null], emoji: '✓' },
        agentName: 'sum',
        agentVersion: '1.2.0',
        capability: 'text:summarize',
        priority: 7,
        runAt,
        maxRetries: 2,
        retryPolicy: { backoff: 'linear', initialDelayMs: 250, maxDelayMs: 900, jitter: false },
        timeoutSeconds: 30,
        expiresAt: '2030-01-03T00:00:00+02:00',
        flow: [{ key: 'k', scope: 'owner', maxRunning: 1 }],
      },
    ]);
    const row = await taskRow(f, id!);
    expect(row).toMatchObject({
      owner_id: f.ownerId,
      status: 'PENDING',
      task_type: 'summarize',
      agent_name: 'sum',
      agent_version: '1.2.0',
      capability_required: 'text:summarize',
      priority: 7,
      run_at: '2030-01-02T03:04:05.678Z',
      max_retries: 2,
      retry_count: 0,
      retry_policy: 'linear',
      timeout_seconds: 30,
      expires_at: '2030-01-02T22:00:00.000Z',
      concurrency_key: 'k',
      lease_epoch: 0,
      locked_by: null,
    });
    expect(JSON.parse(row.input_data)).toEqual({
      text: 'hi "there" \\ {a,b} NULL',
      list: [1, null],
      emoji: '✓',
    });
    expect(JSON.parse(row.retry_options)).toEqual({ initialDelayMs: 250, maxDelayMs: 900, jitter: false });
  });

  it('refuses a bad task by field and writes nothing of the batch', async () => {
    const error = await enqueue(f, [
      {},
      { priority: 11 },
      { maxRetries: -1, runAt: '2030-01-01 12:00' },
    ]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).issues.map((i) => i.field)).toEqual([
      'tasks[1].priority',
      'tasks[2].maxRetries',
      'tasks[2].runAt',
    ]);
    expect(await f.handle.db.selectFrom('tasks').select('id').execute()).toEqual([]);
  });

  it('gives the existing id for an idempotency key already used', async () => {
    const [first] = await enqueue(f, [{ idempotencyKey: 'once' }]);
    const again = await enqueue(f, [{}, { idempotencyKey: 'once' }, { idempotencyKey: 'twice' }]);
    expect(again[1]).toBe(first);
    expect(new Set(again).size).toBe(3);
    expect(await f.handle.db.selectFrom('tasks').select('id').execute()).toHaveLength(3);
  });

  it('claims by priority, then age, then id, up to the limit', async () => {
    const base = new Date(Date.now() - 60_000);
    const ids = await enqueue(f, [
      { priority: 5, runAt: at(base, 3000) }, // 0
      { priority: 9, runAt: at(base, 5000) }, // 1
      { priority: 5, runAt: at(base, 1000) }, // 2
      { priority: 1, runAt: at(base, 0) }, // 3
      { priority: 9, runAt: at(base, 4000) }, // 4
      { priority: 5, runAt: at(base, 2000) }, // 5
    ]);
    const now = new Date();
    const first = await claimTasks(f.handle, { workerId: 'w1', limit: 4, leaseMs: 30_000, now });
    expect(first.map((t) => t.id)).toEqual([ids[4], ids[1], ids[2], ids[5]]);
    const second = await claimTasks(f.handle, { workerId: 'w1', limit: 4, leaseMs: 30_000, now });
    expect(second.map((t) => t.id)).toEqual([ids[0], ids[3]]);
    expect(await claimTasks(f.handle, { workerId: 'w1', limit: 4, leaseMs: 30_000, now })).toEqual([]);
  });

  it('marks a claim on the task only, and keeps the attempt that completes it there', async () => {
    const [id] = await enqueue(f, [{ input: { a: 1 }, maxRetries: 4, timeoutSeconds: 9 }]);
    const now = later();
    const [task] = await claimTasks(f.handle, {
      workerId: 'w1',
      limit: 10,
      leaseMs: 5000,
      now,
    });
    expect(task).toEqual({
      id,
      ownerId: f.ownerId,
      runId: null,
      stepId: null,
      itemIndex: null,
      agent: null,
      capability: null,
      taskType: 'test',
      input: { a: 1 },
      priority: 5,
      attempt: 1,
      maxRetries: 4,
      retryPolicy: DEFAULT_RETRY_POLICY,
      timeoutSeconds: 9,
      concurrencyKey: null,
      leaseEpoch: 1,
      lockedUntil: at(now, 5000).toISOString(),
    });
    expect(await taskRow(f, id!)).toMatchObject({
      status: 'RUNNING',
      locked_by: 'w1',
      worker_id: 'w1',
      locked_until: at(now, 5000).toISOString(),
      lease_epoch: 1,
      started_at: now.toISOString(),
      heartbeat_at: now.toISOString(),
    });
    // The running attempt lives on the task row only.
    expect(await f.handle.db.selectFrom('worker_assignments').selectAll().execute()).toEqual([]);
    // A completion under a stale epoch is rejected and writes no assignment.
    const stale = await completeTasks(f.handle, [{ id: id!, leaseEpoch: 0, output: null }], {}, at(now, 100));
    expect(stale.rejected).toEqual([id]);
    expect(await f.handle.db.selectFrom('worker_assignments').selectAll().execute()).toEqual([]);
    const done = await completeTasks(f.handle, [{ id: id!, leaseEpoch: 1, output: null }], {}, at(now, 200));
    expect(done.completed).toEqual([id]);
    // The attempt that completed the task writes no assignment either: the task row keeps it.
    expect(await f.handle.db.selectFrom('worker_assignments').selectAll().execute()).toEqual([]);
    expect(await taskRow(f, id!)).toMatchObject({
      status: 'COMPLETED',
      locked_by: null,
      worker_id: 'w1',
      lease_epoch: 1,
      assigned_at: now.toISOString(),
      heartbeat_at: now.toISOString(),
      completed_at: at(now, 200).toISOString(),
    });
  });

  it('writes an assignment for each ended attempt but the completing one: a failure retried, then the completion', async () => {
    const [id] = await enqueue(f, [{ maxRetries: 2 }]);
    const t0 = later();
    const [first] = await claimTasks(f.handle, { workerId: 'w1', limit: 1, leaseMs: 5000, now: t0 });
    expect(
      await failTask(
        f.handle,
        { id: id!, leaseEpoch: first!.leaseEpoch, error: 'boom', retryable: true },
        {},
        { now: at(t0, 10) },
      ),
    ).toBe('retrying');
    // A second failure report under the same (now stale) epoch is rejected and writes nothing.
    expect(
      await failTask(
        f.handle,
        { id: id!, leaseEpoch: first!.leaseEpoch, error: 'again' },
        {},
        { now: at(t0, 11) },
      ),
    ).toBe('rejected');
    const t1 = at(t0, 60_000);
    const [second] = await claimTasks(f.handle, { workerId: 'w2', limit: 1, leaseMs: 5000, now: t1 });
    expect(second!.leaseEpoch).toBe(2);
    expect(await assignmentsOf(f, id!)).toHaveLength(1);
    await completeTasks(f.handle, [{ id: id!, leaseEpoch: 2, output: null }], {}, at(t1, 5));
    const assignments = await assignmentsOf(f, id!);
    expect(assignments).toEqual([
      {
        worker_id: 'w1',
        lease_epoch: 1,
        status: 'completed',
        released_at: at(t0, 10).toISOString(),
        heartbeat_at: t0.toISOString(),
      },
    ]);
    expect(await taskRow(f, id!)).toMatchObject({
      status: 'COMPLETED',
      worker_id: 'w2',
      lease_epoch: 2,
      completed_at: at(t1, 5).toISOString(),
    });
    // The id is a UUIDv7 whichever side made it (PostgreSQL makes it in the failing statement).
    const [row] = await f.handle.db.selectFrom('worker_assignments').select('id').execute();
    expect(row!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const stampedMs = parseInt(row!.id.replaceAll('-', '').slice(0, 12), 16);
    expect(Math.abs(stampedMs - Date.now())).toBeLessThan(60_000);
  });

  it('does not claim a task before its run_at', async () => {
    const now = new Date();
    const [soon] = await enqueue(f, [{ runAt: at(now, 60_000) }]);
    expect(await claimTasks(f.handle, { workerId: 'w', limit: 5, leaseMs: 1000, now })).toEqual([]);
    expect((await taskRow(f, soon!)).status).toBe('PENDING');
    const claimed = await claimTasks(f.handle, {
      workerId: 'w',
      limit: 5,
      leaseMs: 1000,
      now: at(now, 60_000),
    });
    expect(claimed.map((t) => t.id)).toEqual([soon]);
  });

  it('expires a task whose expires_at passed instead of running it', async () => {
    const now = later();
    const [stale, fresh] = await enqueue(f, [
      { priority: 9, expiresAt: at(now, -1) },
      { priority: 1, expiresAt: at(now, 60_000) },
    ]);
    const claimed = await claimTasks(f.handle, { workerId: 'w', limit: 5, leaseMs: 1000, now });
    expect(claimed.map((t) => t.id)).toEqual([fresh]);
    expect(await taskRow(f, stale!)).toMatchObject({
      status: 'EXPIRED',
      locked_by: null,
      locked_until: null,
      started_at: null,
      completed_at: now.toISOString(),
      error_code: 'EXPIRED',
    });
    expect(await assignmentsOf(f, stale!)).toEqual([]);
  });

  it('writes many tasks in several statements under the parameter limit', async () => {
    const many = Array.from({ length: 4000 }, (_, i) => ({ input: { i } }));
    const ids = await enqueueTasks(
      f.handle.db,
      f.handle.dialect,
      many.map((t) => ({ ownerId: f.ownerId, taskType: 'bulk', ...t })),
    );
    expect(new Set(ids).size).toBe(4000);
    const claimed = await claimTasks(f.handle, { workerId: 'w', limit: 5000, leaseMs: 1000, now: later() });
    expect(claimed).toHaveLength(4000);
    // Same priority and run_at: id order, which is creation order (UUIDv7).
    expect(claimed.map((t) => t.id)).toEqual([...ids].sort());
  });
  it('claims only what a filter allows: the agent named, or its capabilities when no agent is named, of one owner', async () => {
    const other = (await f.store.system.insertUserIfAbsent({
      name: 'Other',
      email: 'other-claim@example.com',
      role: 'member',
    }))!;
    const now = later();
    const [named, byCap, otherName, otherCap, capButNamed, plain, low] = await enqueue(f, [
      ...PULL_FILTER_TASKS,
    ]);
    const [foreign] = await enqueueTasks(f.handle.db, f.handle.dialect, [
      { ownerId: other.id, taskType: 'test', input: {}, agentName: 'puller', priority: 10 },
    ]);
    const only = { agentName: 'puller', capabilities: ['text:summarize', 'x:unused'] };

    const first = await claimTasks(f.handle, {
      workerId: 'agent:puller',
      limit: 2,
      leaseMs: 1000,
      now,
      ownerId: f.ownerId,
      only,
    });
    // Priority order within the filter: the capability task (7) before the named one (5).
    expect(first.map((t) => t.id)).toEqual([byCap, named]);
    const rest = await claimTasks(f.handle, {
      workerId: 'agent:puller',
      limit: 10,
      leaseMs: 1000,
      now,
      ownerId: f.ownerId,
      only,
    });
    expect(rest.map((t) => t.id)).toEqual([low]);
    for (const id of [otherName, otherCap, capButNamed, plain, foreign])
      expect((await taskRow(f, id!)).status).toBe('PENDING');

    // Only the agent name; only capabilities; a filter naming nothing claims nothing.
    expect(await claimTasks(f.handle, { workerId: 'w', limit: 10, leaseMs: 1000, now, only: {} })).toEqual(
      [],
    );
    expect(
      (
        await claimTasks(f.handle, {
          workerId: 'w',
          limit: 10,
          leaseMs: 1000,
          now,
          ownerId: f.ownerId,
          only: { capabilities: ['image:draw'] },
        })
      ).map((t) => t.id),
    ).toEqual([otherCap]);
    // Without ownerId the other owner's task is claimable by name.
    expect(
      (
        await claimTasks(f.handle, {
          workerId: 'w',
          limit: 10,
          leaseMs: 1000,
          now,
          only: { agentName: 'puller' },
        })
      ).map((t) => t.id),
    ).toEqual([foreign]);
    // No filter: the rest, as before.
    expect(
      (await claimTasks(f.handle, { workerId: 'w', limit: 10, leaseMs: 1000, now })).map((t) => t.id).sort(),
    ).toEqual([otherName, capButNamed, plain].sort());
  });
});
