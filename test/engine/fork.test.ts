import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimTasks, completeTasks } from '../../src/queue/index.js';
import type { WorkflowView } from '../../src/registry/index.js';
import { SwarmError } from '../../src/errors/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { drain, engineFixture, transform, type EngineFixture } from './helpers.js';

type Step = Record<string, unknown>;
const t = (id: string, more: Step = {}): Step => ({
  id,
  agent: 'builtin/transform',
  input: { step: id },
  ...more,
});

/** a → b → c, and p beside b (needs a): b is the middle step forks start from. */
const STEPS: Step[] = [
  t('a', { input: { n: '{{ trigger.n }}' } }),
  t('b', { needs: ['a'], input: { n: '{{ steps.a.output.n + 1 }}', seen: '{{ trigger.n }}' } }),
  t('p', { needs: ['a'], input: { side: '{{ steps.a.output.n }}' } }),
  t('c', { needs: ['b'], input: { n: '{{ steps.b.output.n * 10 }}' } }),
];

describe.each(DIALECTS)('forking runs on %s', (dialect) => {
  let fx: EngineFixture;
  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    await fx.close();
  });

  const registry = () => fx.registry.as(fx.caller);
  async function apply(version: string, steps: Step[] = STEPS): Promise<WorkflowView> {
    return (await registry().workflows.apply({ name: 'forked', version, steps })).workflow;
  }
  const start = (workflow: WorkflowView, input: unknown) =>
    fx.engine.startRun(fx.caller, workflow, registry().agents, { input });
  const fork = (id: string, options: { fromStep: string; version?: string; input?: unknown }) =>
    fx.engine.forkRun(fx.caller, id, options, registry());
  const run = (id: string) => fx.engine.getRun(fx.caller, id);
  const runCount = async () =>
    (await fx.store.handle.db.selectFrom('workflow_runs').select('id').execute()).length;

  async function finishedOriginal(): Promise<string> {
    const id = await start(await apply('1.0.0'), { n: 1 });
    await drain(fx);
    expect((await run(id)).result).toEqual({ p: { side: 1 }, c: { n: 20 } });
    return id;
  }

  it('reuses the steps before the fork step without running them, and runs it and its dependents', async () => {
    const original = await finishedOriginal();
    const before = await run(original);
    const id = await fork(original, { fromStep: 'b' });
    const claimed = await drain(fx);
    // Only b and c ran: a and p were not claimed, so their agents were not called again.
    expect(claimed.map((c) => c.stepId)).toEqual(['b', 'c']);
    expect(claimed.every((c) => c.runId === id && c.idempotencyRunId === original)).toBe(true);
    const forked = await run(id);
    expect(forked).toMatchObject({
      status: 'completed',
      version: '1.0.0',
      parentRunId: original,
      isReplay: true,
      forkedFromStep: 'b',
      originalRunId: original,
      result: { p: { side: 1 }, c: { n: 20 } },
    });
    for (const step of ['a', 'p']) {
      expect(forked.steps[step]).toMatchObject({ status: 'completed', reused_from: original });
      expect(forked.steps[step]!.output).toEqual(before.steps[step]!.output);
    }
    for (const step of ['b', 'c']) expect(forked.steps[step]!.reused_from).toBeUndefined();
    const tasks = await fx.store.handle.db
      .selectFrom('tasks')
      .select(['step_id', 'idempotency_run_id'])
      .where('run_id', '=', id)
      .execute();
    expect(tasks.map((task) => task.step_id).sort()).toEqual(['b', 'c']);
    const logs = await fx.store.handle.db
      .selectFrom('execution_logs')
      .select('message')
      .where('run_id', '=', id)
      .execute();
    expect(logs.map((l) => l.message)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`forked from run ${original} at step b$`)),
        `step a completed (reused from run ${original})`,
      ]),
    );
    // The original lists its fork; an ordinary run is no replay.
    expect((await run(original)).forks).toEqual([
      expect.objectContaining({ id, status: 'completed', fromStep: 'b', version: '1.0.0' }),
    ]);
    expect(before).toMatchObject({ isReplay: false, parentRunId: null, originalRunId: null });
    const audit = await fx.store.handle.db
      .selectFrom('audit_logs')
      .select(['action', 'resource_id'])
      .where('action', '=', 'run.fork')
      .execute();
    expect(audit).toEqual([{ action: 'run.fork', resource_id: id }]);

    // A fork of the fork keeps the root's id for its keys, and reuses what the fork reused.
    const again = await fork(id, { fromStep: 'c' });
    const second = await drain(fx);
    expect(second.map((c) => [c.stepId, c.idempotencyRunId])).toEqual([['c', original]]);
    const chained = await run(again);
    expect(chained).toMatchObject({ status: 'completed', parentRunId: id, originalRunId: original });
    expect(chained.steps.a!.reused_from).toBe(original);
    expect(chained.steps.b!.reused_from).toBe(id);
  });

  it('gives the steps that run again a new input; reused outputs stay as recorded', async () => {
    const original = await finishedOriginal();
    const id = await fork(original, { fromStep: 'b', input: { n: 7 } });
    await drain(fx);
    const forked = await run(id);
    expect(forked.status).toBe('completed');
    // a is reused (n was 1), b sees the new trigger.
    expect(forked.steps.b!.output).toEqual({ n: 2, seen: 7 });
    expect(forked.trigger.data).toEqual({ n: 7 });
    // An input the first steps cannot work with is refused like a normal start's, naming the field.
    const bad = await apply('1.0.1', [
      t('a', { input: { n: '{{ $number(trigger.n) }}' } }),
      ...STEPS.slice(1),
    ]);
    await expect(fork(original, { fromStep: 'a', version: bad.version, input: { n: 'x' } })).rejects.toThrow(
      /steps\.a\.input/,
    );
  });

  it('forks on a newer version that changed a downstream step', async () => {
    const original = await finishedOriginal();
    await apply('1.1.0', [
      ...STEPS.slice(0, 3),
      t('c', { needs: ['b'], input: { n: '{{ steps.b.output.n * 100 }}' } }),
    ]);
    const id = await fork(original, { fromStep: 'b', version: 'latest' });
    const claimed = await drain(fx);
    expect(claimed.map((c) => c.stepId)).toEqual(['b', 'c']);
    expect(await run(id)).toMatchObject({
      status: 'completed',
      version: '1.1.0',
      steps: { a: { reused_from: original }, c: { output: { n: 200 } } },
    });
  });

  it('refuses a version that lacks a reused step or changed its agent, listing each step, and writes nothing', async () => {
    const original = await finishedOriginal();
    await apply('2.0.0', [STEPS[0]!, STEPS[1]!, STEPS[3]!]); // no p
    await apply('3.0.0', [{ ...STEPS[0]!, agent: 'builtin/noop', input: {} }, ...STEPS.slice(1)]);
    await apply('4.0.0', [t('z'), ...STEPS.slice(0, 1), t('b', { needs: ['a', 'z'] }), ...STEPS.slice(2)]);
    const runs = await runCount();
    const refusal = async (version: string) => {
      const error = await fork(original, { fromStep: 'b', version }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SwarmError);
      expect((error as SwarmError).code).toBe('FORK_MISMATCH');
      expect((error as SwarmError).status).toBe(409);
      return (error as SwarmError).issues;
    };
    expect(await refusal('2.0.0')).toEqual([
      { field: 'steps.p', message: expect.stringMatching(/missing from the target version/) },
    ]);
    expect(await refusal('3.0.0')).toEqual([
      {
        field: 'steps.a',
        message: expect.stringMatching(/builtin\/noop here, builtin\/transform in the original/),
      },
    ]);
    // A new step that b needs has no recorded output.
    expect(await refusal('4.0.0')).toEqual([
      { field: 'steps.z', message: expect.stringMatching(/not in forked@1\.0\.0/) },
    ]);
    expect(await runCount()).toBe(runs);
    // From the first step nothing is reused, so any version goes.
    const id = await fork(original, { fromStep: 'a', version: '2.0.0' });
    await drain(fx);
    expect((await run(id)).status).toBe('completed');
  });

  it('refuses an unknown step (naming fromStep), run or version, and another owner’s run', async () => {
    const original = await finishedOriginal();
    const unknown = await fork(original, { fromStep: 'nope' }).catch((e: unknown) => e);
    expect(unknown).toMatchObject({ code: 'INPUT_INVALID', issues: [{ field: 'fromStep' }] });
    await expect(fork('0190ffff-0000-7000-8000-000000000000', { fromStep: 'b' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(fork(original, { fromStep: 'b', version: '9.9.9' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    const other = (await fx.store.system.insertUserIfAbsent({
      name: 'O',
      email: 'o@example.com',
      role: 'member',
    }))!;
    const stranger = { userId: other.id, role: other.role };
    await expect(
      fx.engine.forkRun(stranger, original, { fromStep: 'b' }, fx.registry.as(stranger)),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('forks a failed run from its failed step, and a running run from what it finished', async () => {
    const workflow = await apply('1.0.0');
    const failed = await start(workflow, { n: 1 });
    await drain(fx, (task) => (task.stepId === 'b' ? { error: 'boom', retryable: false } : transform(task)));
    expect((await run(failed)).status).toBe('failed');
    // p may have been cancelled with the run (it ran beside b): it runs again if it did not finish.
    const replay = await fork(failed, { fromStep: 'b' });
    await drain(fx);
    expect(await run(replay)).toMatchObject({ status: 'completed', result: { c: { n: 20 } } });

    // A running run: only a has completed; b and p are running.
    const running = await start(workflow, { n: 1 });
    const [first] = await claimTasks(fx.store.handle, { workerId: 'w', limit: 10, leaseMs: 60_000 });
    expect(first!.stepId).toBe('a');
    await completeTasks(
      fx.store.handle,
      [{ id: first!.id, leaseEpoch: first!.leaseEpoch, output: { n: 1 } }],
      {
        onCompletedBatch: fx.engine.onTasksCompleted,
      },
    );
    expect((await run(running)).steps.b!.status).toBe('running');
    // c needs b, which has not finished: nothing to run c on.
    const early = await fork(running, { fromStep: 'c' }).catch((e: unknown) => e);
    expect(early).toMatchObject({
      code: 'FORK_MISMATCH',
      issues: [
        { field: 'steps.b', message: expect.stringMatching(/is running in the original run.*fork from b/) },
      ],
    });
    // From b: a is reused; p, still running in the original, runs again in the fork.
    const id = await fork(running, { fromStep: 'b' });
    const claimed = await drain(fx);
    expect(
      claimed
        .filter((c) => c.runId === id)
        .map((c) => c.stepId)
        .sort(),
    ).toEqual(['b', 'c', 'p']);
    const forked = await run(id);
    expect(forked.status).toBe('completed');
    expect(forked.steps.a!.reused_from).toBe(running);
    expect(forked.steps.p!.reused_from).toBeUndefined();
    expect((await run(running)).status).toBe('completed');
  });
});
