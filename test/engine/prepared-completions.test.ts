import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  claimTasks,
  completeTasks,
  type ClaimedTask,
  type PendingCompletion,
} from '../../src/queue/index.js';
import { outcomeHooks } from '../../src/worker/index.js';
import { fromDbJson } from '../../src/storage/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { engineFixture, type EngineFixture } from './helpers.js';

/**
 * Completing steps in two halves (src/engine/completions.ts): the next steps are planned before
 * the completion's transaction, and the transaction writes that plan only if the run is as it
 * was read. These tests tamper with a plan between the halves to see whether it was written.
 */
describe.each(DIALECTS)('completions planned ahead of their transaction on %s', (dialect) => {
  let fx: EngineFixture;
  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    await fx.close();
  });

  async function start(name: string, steps: unknown[], input: unknown = {}): Promise<string> {
    const { workflows, agents } = fx.registry.as(fx.caller);
    const { workflow } = await workflows.apply({ name, version: '1.0.0', steps });
    return fx.engine.startRun(fx.caller, workflow, agents, { input });
  }

  const claim = () => claimTasks(fx.store.handle, { workerId: 'w', limit: 1000, leaseMs: 60_000 });
  const completion = (task: ClaimedTask, output: unknown) => ({
    id: task.id,
    leaseEpoch: task.leaseEpoch,
    output,
    runId: task.runId,
    stepId: task.stepId,
    itemIndex: task.itemIndex,
  });

  /** Errors thrown in `between` (the queue would swallow them: a failed preparation is skipped). */
  let errors: unknown[] = [];
  afterEach(() => {
    expect(errors).toEqual([]);
    errors = [];
  });

  /** The worker's hooks, with `between` run after the plans are made and before the transaction. */
  function hooksWith(between: (plans: unknown) => Promise<void>) {
    const hooks = outcomeHooks(fx.store, fx.engine);
    return {
      ...hooks,
      prepareCompletedBatch: async (completions: readonly PendingCompletion[]) => {
        const plans = await hooks.prepareCompletedBatch!(completions);
        await between(plans).catch((error: unknown) => errors.push(error));
        return plans;
      },
    };
  }

  /** As stored: JSONata marks its result arrays with a `sequence` property. */
  const plain = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

  /** The single plan of `runId`'s released tasks: their inputs can be rewritten. */
  function releasedOf(plans: unknown, runId: string): Array<{ input: unknown }> {
    const runs = (plans as { runs: Map<string, { released: Array<{ input: unknown }> }> }).runs;
    return runs.get(runId)!.released;
  }

  const stepInputs = async (runId: string, stepId: string) =>
    (
      await fx.store.handle.db
        .selectFrom('tasks')
        .select('input_data')
        .where('run_id', '=', runId)
        .where('step_id', '=', stepId)
        .orderBy('item_index')
        .execute()
    ).map((row) => fromDbJson(row.input_data));

  const runRow = (runId: string) =>
    fx.store.handle.db
      .selectFrom('workflow_runs')
      .selectAll()
      .where('id', '=', runId)
      .executeTakeFirstOrThrow();

  it('writes the plan made before the transaction when the run did not change meanwhile', async () => {
    const runId = await start('ahead', [
      { id: 'a', agent: 'builtin/transform' },
      // A function call: evaluated in an evaluator thread, so worth planning outside the lock.
      {
        id: 'b',
        agent: 'builtin/transform',
        needs: ['a'],
        input: { v: '{{ $map([1,2], function($x){ $x * steps.a.output.n }) }}' },
      },
    ]);
    const [a] = await claim();
    const result = await completeTasks(
      fx.store.handle,
      [completion(a!, { n: 3 })],
      hooksWith(async (plans) => {
        const released = releasedOf(plans, runId);
        expect(plain(released.map((t) => t.input))).toEqual([{ v: [3, 6] }]);
        released[0]!.input = { v: 'from the plan' };
      }),
    );
    expect(result.completed).toEqual([a!.id]);
    expect(await stepInputs(runId, 'b')).toEqual([{ v: 'from the plan' }]);
  });

  it('works a run out again in the transaction when another completion changed it after the plan', async () => {
    const joined = '{{ $join([steps.a.output.s, steps.b.output.s], "+") }}';
    const runId = await start('raced', [
      { id: 'a', agent: 'builtin/transform' },
      { id: 'b', agent: 'builtin/transform' },
      // Released by a alone: its thread expression has a's completion prepared.
      {
        id: 'd',
        agent: 'builtin/transform',
        needs: ['a'],
        input: { s: '{{ $join([steps.a.output.s], "") }}' },
      },
      { id: 'c', agent: 'builtin/transform', needs: ['a', 'b'], input: { both: joined } },
    ]);
    const tasks = await claim();
    const a = tasks.find((t) => t.stepId === 'a')!;
    const b = tasks.find((t) => t.stepId === 'b')!;
    let planned = false;
    await completeTasks(
      fx.store.handle,
      [completion(a, { s: 'A' })],
      hooksWith(async (plans) => {
        // Planned while b was running: d released, c not yet.
        expect(releasedOf(plans, runId).map((t) => (t as { stepId?: string }).stepId)).toEqual(['d']);
        planned = true;
        // b completes first (another worker's batch): the plan no longer holds.
        const other = await completeTasks(
          fx.store.handle,
          [completion(b, { s: 'B' })],
          outcomeHooks(fx.store, fx.engine),
        );
        expect(other.completed).toEqual([b.id]);
      }),
    );
    expect(planned).toBe(true);
    const run = await runRow(runId);
    const steps = fromDbJson<Record<string, { status: string }>>(run.step_results)!;
    expect(Object.fromEntries(Object.entries(steps).map(([id, st]) => [id, st.status]))).toEqual({
      a: 'completed',
      b: 'completed',
      d: 'running',
      c: 'running',
    });
    expect(await stepInputs(runId, 'c')).toEqual([{ both: 'A+B' }]);
    expect(await stepInputs(runId, 'd')).toEqual([{ s: 'A' }]);
  });

  it('gathers a fan-in whose last items complete in the planned batch itself, in item order', async () => {
    const runId = await start(
      'gather',
      [
        { id: 'fan', agent: 'builtin/transform', for_each: 'trigger.items', input: { n: '{{ item }}' } },
        {
          id: 'join',
          agent: 'builtin/transform',
          needs: ['fan'],
          input: { all: '{{ $map(steps.fan.output, function($o){ $o.n }) }}' },
        },
      ],
      { items: [0, 1, 2, 3, 4, 5] },
    );
    const items = await claim();
    const byIndex = (i: number) => items.find((t) => t.itemIndex === i)!;
    const hooks = outcomeHooks(fx.store, fx.engine);
    // Items 1 and 4 first; then 5, 0, 3, 2 in one batch, planned ahead with four outputs unstored.
    await completeTasks(
      fx.store.handle,
      [1, 4].map((i) => completion(byIndex(i), { n: i * 10 })),
      hooks,
    );
    let used = false;
    await completeTasks(
      fx.store.handle,
      [5, 0, 3, 2].map((i) => completion(byIndex(i), { n: i * 10 })),
      hooksWith(async (plans) => {
        const [join] = releasedOf(plans, runId);
        expect(plain(join!.input)).toEqual({ all: [0, 10, 20, 30, 40, 50] });
        used = true;
      }),
    );
    expect(used).toBe(true);
    expect(await stepInputs(runId, 'join')).toEqual([{ all: [0, 10, 20, 30, 40, 50] }]);
  });

  it('plans the handlers of a run that ends, and writes them with the run', async () => {
    const { workflows, agents } = fx.registry.as(fx.caller);
    const { workflow } = await workflows.apply({
      name: 'handled',
      version: '1.0.0',
      steps: [{ id: 'a', agent: 'builtin/transform' }],
      on_success: {
        agent: 'builtin/transform',
        input: { n: '{{ $sum($map([steps.a.output.n], function($v){ $v + 1 })) }}' },
      },
    });
    const runId = await fx.engine.startRun(fx.caller, workflow, agents, {});
    const [a] = await claim();
    await completeTasks(
      fx.store.handle,
      [completion(a!, { n: 1 })],
      hooksWith(async (plans) => {
        const plan = (plans as { runs: Map<string, { handlerTasks?: Array<{ input: unknown }> }> }).runs.get(
          runId,
        )!;
        expect(plain(plan.handlerTasks!.map((t) => t.input))).toEqual([{ n: 2 }]);
        plan.handlerTasks![0]!.input = { n: 'from the plan' };
      }),
    );
    const run = await runRow(runId);
    expect(run.status).toBe('completed');
    expect(await stepInputs(runId, 'on_success[0]')).toEqual([{ n: 'from the plan' }]);
  });

  it('records a batch whose expressions all evaluate inline in one transaction, preparing nothing', async () => {
    const runId = await start('inline', [
      { id: 'a', agent: 'builtin/transform' },
      { id: 'b', agent: 'builtin/transform', needs: ['a'], input: { n: '{{ steps.a.output.n * 2 }}' } },
    ]);
    const [a] = await claim();
    let prepared = 0;
    await completeTasks(
      fx.store.handle,
      [completion(a!, { n: 4 })],
      hooksWith(async () => {
        prepared++;
      }),
    );
    expect(prepared).toBe(0);
    expect(await stepInputs(runId, 'b')).toEqual([{ n: 8 }]);
  });
});
