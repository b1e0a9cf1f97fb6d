import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimTasks, completeTasks, COMPLETION_FAILED, type ClaimedTask } from '../../src/queue/index.js';
import type { Caller } from '../../src/storage/index.js';
import { outcomeHooks } from '../../src/worker/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { engineFixture, type EngineFixture } from './helpers.js';

/**
 * One owner's bad task must not sink a completion batch that carries another owner's tasks:
 * the batch is completed with the worker's own hooks (engine, agent outcomes, task hooks), in
 * one completeTasks call, as the worker's flush does.
 */
describe.each(DIALECTS)('poison in a completion batch on %s', (dialect) => {
  let fx: EngineFixture;
  let other: Caller;
  beforeEach(async () => {
    fx = await engineFixture(dialect);
    const user = (await fx.store.system.insertUserIfAbsent({
      name: 'Other',
      email: 'other@example.com',
      role: 'member',
    }))!;
    other = { userId: user.id, role: user.role };
  });
  afterEach(async () => {
    await fx.close();
  });

  async function start(caller: Caller, name: string, steps: unknown[], input: unknown = {}): Promise<string> {
    const { workflows, agents } = fx.registry.as(caller);
    const { workflow } = await workflows.apply({ name, version: '1.0.0', steps });
    return fx.engine.startRun(caller, workflow, agents, { input });
  }

  /** The other owner's 500 healthy tasks: one run fanning out to 500 items, then a fan-in. */
  const healthyRun = () =>
    start(
      other,
      'healthy',
      [
        { id: 'fan', agent: 'builtin/transform', for_each: 'trigger.items', input: { n: '{{ item }}' } },
        {
          id: 'join',
          agent: 'builtin/transform',
          needs: ['fan'],
          input: { count: '{{ $count(steps.fan.output) }}' },
        },
      ],
      { items: Array.from({ length: 500 }, (_, i) => i) },
    );

  const claimAll = () => claimTasks(fx.store.handle, { workerId: 'w', limit: 1000, leaseMs: 60_000 });

  const complete = (tasks: ClaimedTask[], output: (task: ClaimedTask) => unknown) =>
    completeTasks(
      fx.store.handle,
      tasks.map((task) => ({ id: task.id, leaseEpoch: task.leaseEpoch, output: output(task) })),
      outcomeHooks(fx.store, fx.engine),
    );

  it('completes 500 healthy tasks and fails the one whose completion cannot be recorded, with its own error', async () => {
    const healthy = await healthyRun();
    const poisoned = await start(fx.caller, 'poisoned', [{ id: 'p', agent: 'builtin/transform', input: {} }]);
    const claimed = await claimAll();
    expect(claimed).toHaveLength(501);
    const poison = claimed.find((task) => task.runId === poisoned)!;
    // Healthy tasks on both sides of the poison, so bisection has work on each half.
    const others = claimed.filter((task) => task !== poison);
    const batch = [...others.slice(0, 250), poison, ...others.slice(250)];
    // A BigInt is no JSON value: storing this output throws, for this task alone.
    const result = await complete(batch, (task) => (task === poison ? { n: 1n } : { n: task.itemIndex }));

    expect(result.completed).toHaveLength(500);
    expect(result.rejected).toEqual([]);
    expect(result.failed).toEqual([
      {
        id: poison.id,
        outcome: 'failed',
        error: expect.stringMatching(/^recording the result failed: .*BigInt/),
      },
    ]);
    const row = await fx.store.handle.db
      .selectFrom('tasks')
      .select(['status', 'error_code', 'error_message'])
      .where('id', '=', poison.id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'FAILED', error_code: COMPLETION_FAILED });
    const failedRun = await fx.engine.getRun(fx.caller, poisoned);
    expect(failedRun).toMatchObject({ status: 'failed', errorStep: 'p' });
    expect(failedRun.error).toMatch(/step p failed: recording the result failed: .*BigInt/);

    // The other owner's run moved on in that batch: its fan-in step is released.
    const [join] = await claimAll();
    expect(join).toMatchObject({ runId: healthy, stepId: 'join', input: { count: 500 } });
    await complete([join!], (task) => task.input);
    const done = await fx.engine.getRun(other, healthy);
    expect(done).toMatchObject({ status: 'completed', result: { join: { count: 500 } } });
    expect((done.steps.fan!.output as Array<{ n: number }>).map((o) => o.n)).toEqual(
      Array.from({ length: 500 }, (_, i) => i),
    );
  });

  it('fails the run of a step whose input expression throws, naming the step, and completes the rest of the batch', async () => {
    const healthy = await healthyRun();
    const poisons = {
      error: '{{ $error("poison") }}',
      type: '{{ 1 + "a" }}',
      range: '{{ [1..100000000] }}',
    };
    const runs = new Map<string, string>();
    for (const [name, expression] of Object.entries(poisons)) {
      const id = await start(fx.caller, `poison-${name}`, [
        { id: 'a', agent: 'builtin/transform', input: { ok: true } },
        { id: 'b', agent: 'builtin/transform', needs: ['a'], input: { v: expression } },
      ]);
      runs.set(name, id);
    }
    const claimed = await claimAll();
    expect(claimed).toHaveLength(503);
    const result = await complete(claimed, (task) => task.input);
    expect(result.completed).toHaveLength(503);
    expect(result.failed).toEqual([]);

    for (const [name, id] of runs) {
      const run = await fx.engine.getRun(fx.caller, id);
      expect(run, name).toMatchObject({ status: 'failed', errorStep: 'b' });
      expect(run.steps.a!.status).toBe('completed');
      expect(run.steps.b!.status).toBe('failed');
      expect(run.error, name).toMatch(/^input of step "b" failed: ./);
    }
    expect((await fx.engine.getRun(fx.caller, runs.get('error')!)).error).toBe(
      'input of step "b" failed: poison',
    );
    const [join] = await claimAll();
    expect(join).toMatchObject({ runId: healthy, stepId: 'join', input: { count: 500 } });
    // The failed runs left nothing behind to claim.
    expect(
      await fx.store.handle.db
        .selectFrom('tasks')
        .select('id')
        .where('owner_id', '=', fx.caller.userId)
        .where('status', 'in', ['PENDING', 'RUNNING'])
        .execute(),
    ).toEqual([]);
  });
});
