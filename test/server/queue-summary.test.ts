import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../../src/auth/index.js';
import { claimTasks, enqueueTasks, type NewTask } from '../../src/queue/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store, toDbBool } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { bearer } from '../helpers/people.js';

const MINUTE = 60_000;
const ago = (ms: number) => new Date(Date.now() - ms);

describe.each(DIALECTS)('GET /api/v1/queue and the task list on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  const users: Record<'alice' | 'bob', { id: string; key: string }> = {} as never;
  const ids: Record<string, string | undefined> = {};
  let tasksOnlyKey: string;
  let runsOnlyKey: string;

  async function makeKey(userId: string, scopes: string[]): Promise<string> {
    const generated = generateApiKey();
    await store
      .as({ userId, role: 'member' })
      .apiKeys.create({ name: 'k', prefix: generated.prefix, hash: generated.hash, scopes });
    return generated.key;
  }

  async function enqueue(ownerId: string, tasks: Partial<NewTask>[]): Promise<string[]> {
    return enqueueTasks(
      store.handle.db,
      store.handle.dialect,
      tasks.map((t) => ({ ownerId, taskType: 'test', input: {}, ...t })),
    );
  }

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    for (const name of ['alice', 'bob'] as const) {
      const user = await store.system.insertUserIfAbsent({
        name,
        email: `${name}@example.com`,
        role: 'member',
      });
      users[name] = { id: user!.id, key: await makeKey(user!.id, ['*']) };
    }
    tasksOnlyKey = await makeKey(users.alice.id, ['tasks:read']);
    runsOnlyKey = await makeKey(users.alice.id, ['runs:read']);
    app = await buildApp({ store, rateLimits: false });

    // Alice: one to be claimed, one ready, one delayed (run_at ahead), one blocked.
    [ids.held, ids.ready] = await enqueue(users.alice.id, [
      { agentName: 'echo', agentVersion: '1.0.0', runAt: ago(10 * MINUTE) },
      { agentName: 'echo', agentVersion: '1.0.0', runAt: ago(2 * MINUTE) },
    ]);
    await claimTasks(store.handle, {
      workerId: 'worker-shared',
      limit: 1,
      leaseMs: 10 * MINUTE,
      ownerId: users.alice.id,
    });
    [ids.delayed, ids.blocked] = await enqueue(users.alice.id, [
      { agentName: 'slow', runAt: new Date(Date.now() + 60 * MINUTE) },
      { agentName: 'slow', runAt: ago(30 * MINUTE) },
    ]);
    await store.handle.db
      .updateTable('tasks')
      .set({ is_blocked: toDbBool(true) })
      .where('id', '=', ids.blocked!)
      .execute();

    // Bob: older tasks than any of Alice's, held by the same worker and by one of his own.
    const bobs = await enqueue(
      users.bob.id,
      Array.from({ length: 5 }, () => ({ agentName: 'echo', runAt: ago(120 * MINUTE) })),
    );
    ids.bobFirst = bobs[0]!;
    await claimTasks(store.handle, {
      workerId: 'worker-shared',
      limit: 2,
      leaseMs: 10 * MINUTE,
      ownerId: users.bob.id,
    });
    await claimTasks(store.handle, {
      workerId: 'worker-bob',
      limit: 1,
      leaseMs: 10 * MINUTE,
      ownerId: users.bob.id,
    });
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
    await testDb?.drop();
  });

  const get = (url: string, key: string) => app.inject({ method: 'GET', url, headers: bearer(key) });

  it("counts the caller's tasks by status, splits the waiting ones, and names the oldest ready one", async () => {
    const res = await get('/api/v1/queue', users.alice.key);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.depth).toMatchObject({ PENDING: 3, RUNNING: 1, COMPLETED: 0, ASSIGNED: 0 });
    // Bob's five tasks are in no count of Alice's.
    expect(Object.values(body.depth as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(4);
    expect(body.pending).toEqual({ ready: 1, delayed: 1, blocked: 1 });
    expect(body.oldestWaiting).toMatchObject({ taskId: ids.ready, agent: 'echo@1.0.0', runId: null });
    // Waiting about two minutes: its run_at was two minutes ago.
    expect(body.oldestWaiting.ageMs).toBeGreaterThanOrEqual(2 * MINUTE);
    expect(body.oldestWaiting.ageMs).toBeLessThan(3 * MINUTE);
    expect(body.assignmentsTruncated).toBe(false);
  });

  it("shows a worker only through the caller's own assignments", async () => {
    const alice = (await get('/api/v1/queue', users.alice.key)).json();
    expect(alice.workers).toHaveLength(1);
    expect(alice.workers[0]).toMatchObject({ workerId: 'worker-shared', hostname: null, pid: null });
    expect(alice.workers[0].assignments).toEqual([
      expect.objectContaining({ taskId: ids.held, taskStatus: 'RUNNING', agent: 'echo@1.0.0' }),
    ]);
    expect(alice.workers[0].lastHeartbeatAt).toEqual(expect.any(String));

    const bob = (await get('/api/v1/queue', users.bob.key)).json();
    expect(bob.depth).toMatchObject({ PENDING: 2, RUNNING: 3 });
    expect(bob.oldestWaiting.taskId).not.toBe(ids.ready);
    const workers = Object.fromEntries(
      (bob.workers as { workerId: string; assignments: { taskId: string }[] }[]).map((w) => [
        w.workerId,
        w.assignments.map((a) => a.taskId),
      ]),
    );
    expect(Object.keys(workers).sort()).toEqual(['worker-bob', 'worker-shared']);
    expect(workers['worker-shared']).toHaveLength(2);
    expect(workers['worker-shared']).not.toContain(ids.held);
  });

  it('needs tasks:read', async () => {
    expect((await get('/api/v1/queue', tasksOnlyKey)).statusCode).toBe(200);
    const refused = await get('/api/v1/queue', runsOnlyKey);
    expect(refused.statusCode).toBe(403);
    expect(refused.headers['content-type']).toMatch(/problem\+json/);
  });

  it('filters the task list by agent and pages it with `before`', async () => {
    const echo = (await get('/api/v1/tasks?agent=echo', users.alice.key)).json().items;
    expect(echo.map((t: { id: string }) => t.id).sort()).toEqual([ids.held, ids.ready].sort());
    const pinned = (await get('/api/v1/tasks?agent=echo@1.0.0&status=PENDING', users.alice.key)).json();
    expect(pinned.items.map((t: { id: string }) => t.id)).toEqual([ids.ready]);
    expect((await get('/api/v1/tasks?agent=echo@2.0.0', users.alice.key)).json().items).toEqual([]);

    const all = (await get('/api/v1/tasks', users.alice.key)).json().items as { id: string }[];
    expect(all).toHaveLength(4);
    const first = (await get('/api/v1/tasks?limit=3', users.alice.key)).json().items as { id: string }[];
    const next = (await get(`/api/v1/tasks?limit=3&before=${first[2]!.id}`, users.alice.key)).json()
      .items as { id: string }[];
    expect([...first, ...next].map((t) => t.id)).toEqual(all.map((t) => t.id));
  });

  it("refuses a `before` that is not one of the caller's tasks, naming the field", async () => {
    for (const before of ['no-such-task', ids.bobFirst]) {
      const res = await get(`/api/v1/tasks?before=${before!}`, users.alice.key);
      expect(res.statusCode).toBe(400);
      expect(res.json().errors).toEqual(
        expect.arrayContaining([expect.objectContaining({ field: 'before' })]),
      );
    }
    const bad = await get('/api/v1/tasks?agent=a@b@c', users.alice.key);
    expect(bad.statusCode).toBe(400);
  });
});
