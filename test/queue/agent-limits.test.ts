import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimTasks, completeTasks, enqueueTasks } from '../../src/queue/index.js';
import { openDatabase, type DatabaseHandle } from '../../src/storage/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { FIXTURES } from '../runtimes/process-helpers.js';

/** An agent's `resources.max_concurrency` (docs/flow-control.md), applied at enqueue. */
describe.each(DIALECTS)('an agent’s max_concurrency on %s', (dialect) => {
  let fx: EngineFixture;
  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    await fx.close();
  });

  const register = (name: string, resources?: Record<string, unknown>, version = '1.0.0') =>
    fx.registry.as(fx.caller).agents.register(
      {
        name,
        version,
        type: 'execution',
        capabilities: ['test:limits'],
        runtime: { type: 'node', entry: 'probe.js' },
        ...(resources === undefined ? {} : { resources }),
      },
      { path: path.join(FIXTURES, 'probe') },
    );
  const task = (agentName: string, agentVersion = '1.0.0') => ({
    ownerId: fx.caller.userId,
    agentName,
    agentVersion,
    taskType: 't',
    input: {},
    maxRetries: 0,
  });
  const runningOf = async (handle: DatabaseHandle, agentName: string) =>
    Number(
      (
        await handle.db
          .selectFrom('tasks')
          .select((eb) => eb.fn.countAll<number | string>().as('n'))
          .where('status', '=', 'RUNNING')
          .where('agent_name', '=', agentName)
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('never has a third task of an agent with max_concurrency 2 running (400 tasks, 4 claimers)', async () => {
    await register('narrow', { memory_mb: 128, timeout_seconds: 60, max_concurrency: 2 });
    await register('wide');
    const { db, dialect: adapter } = fx.store.handle;
    await enqueueTasks(db, adapter, [
      ...Array.from({ length: 400 }, () => task('narrow')),
      ...Array.from({ length: 40 }, () => task('wide')),
    ]);
    // PostgreSQL: a second pool, as a second worker process has.
    const second = dialect === 'postgres' ? await openDatabase(fx.testDb.url) : fx.store.handle;
    let worst = 0;
    let widest = 0;
    try {
      const claimer = async (handle: DatabaseHandle, workerId: string) => {
        const done: string[] = [];
        for (let idle = 0; idle < 50;) {
          const got = await claimTasks(handle, { workerId, limit: 5, leaseMs: 60_000 });
          // Checked from the database at every claim, while the other claimers run.
          worst = Math.max(worst, await runningOf(handle, 'narrow'));
          widest = Math.max(widest, await runningOf(handle, 'wide'));
          if (got.length === 0) {
            idle++;
            await new Promise((resolve) => setTimeout(resolve, 5));
            continue;
          }
          idle = 0;
          await completeTasks(
            handle,
            got.map((t) => ({ id: t.id, leaseEpoch: t.leaseEpoch, output: null })),
          );
          done.push(...got.map((t) => t.id));
        }
        return done;
      };
      const all = (
        await Promise.all([
          claimer(fx.store.handle, 'w1'),
          claimer(second, 'w2'),
          claimer(fx.store.handle, 'w3'),
          claimer(second, 'w4'),
        ])
      ).flat();
      expect(all).toHaveLength(440);
      expect(new Set(all).size).toBe(440);
    } finally {
      if (second !== fx.store.handle) await second.close();
    }
    expect(worst).toBeLessThanOrEqual(2);
    expect(worst).toBe(2);
    // The agent without a limit is not held to one: a claim of 5 took more than 2 of its tasks.
    expect(widest).toBeGreaterThan(2);
  }, 120_000);

  it('keys the limit by the agent’s name and owner, not by version or task', async () => {
    await register('versions', { max_concurrency: 1 });
    await register('versions', { max_concurrency: 1 }, '2.0.0');
    const { db, dialect: adapter } = fx.store.handle;
    const [a, b] = await enqueueTasks(db, adapter, [task('versions', '1.0.0'), task('versions', '2.0.0')]);
    const rows = await db
      .selectFrom('tasks')
      .select(['id', 'concurrency_key'])
      .where('id', 'in', [a!, b!])
      .execute();
    expect(new Set(rows.map((r) => r.concurrency_key)).size).toBe(1);
    expect(rows[0]!.concurrency_key).toContain(fx.caller.userId);
    const first = await claimTasks(fx.store.handle, { workerId: 'w', limit: 10, leaseMs: 60_000 });
    expect(first).toHaveLength(1);
    await completeTasks(fx.store.handle, [{ id: first[0]!.id, leaseEpoch: first[0]!.leaseEpoch, output: 1 }]);
    const next = await claimTasks(fx.store.handle, { workerId: 'w', limit: 10, leaseMs: 60_000 });
    expect(next.map((t) => t.id)).toEqual([first[0]!.id === a ? b : a]);
  });

  it('leaves tasks of builtins, of agents without a limit and of capabilities unkeyed', async () => {
    await register('plain');
    const { db, dialect: adapter } = fx.store.handle;
    const ids = await enqueueTasks(db, adapter, [
      task('plain'),
      task('builtin/noop'),
      { ownerId: fx.caller.userId, capability: 'test:limits', taskType: 't', input: {} },
    ]);
    const rows = await db.selectFrom('tasks').select('concurrency_key').where('id', 'in', ids).execute();
    expect(rows.map((r) => r.concurrency_key)).toEqual([null, null, null]);
  });

  it('refuses a max_concurrency that is not an integer from 1 to 100000, naming the field, and writes nothing', async () => {
    for (const bad of [0, -1, 1.5, '2', 100_001, null]) {
      await expect(
        register(`bad-${String(bad).replace(/\W/g, '')}`, { max_concurrency: bad }),
      ).rejects.toMatchObject({
        code: 'INPUT_INVALID',
        message: expect.stringContaining('resources.max_concurrency: must be an integer from 1 to 100000'),
        issues: [expect.objectContaining({ field: 'resources.max_concurrency' })],
      });
    }
    const rows = await fx.store.handle.db
      .selectFrom('agents')
      .select('name')
      .where('name', 'like', 'bad-%')
      .execute();
    expect(rows).toEqual([]);
  });
});
