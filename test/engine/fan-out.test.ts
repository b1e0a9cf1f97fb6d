import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Engine } from '../../src/engine/index.js';
import type { WorkflowView } from '../../src/registry/index.js';
import { createWorker, type Worker } from '../../src/worker/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { until } from '../helpers/until.js';
import { drain, engineFixture, type EngineFixture } from './helpers.js';

/** Past the old overflow point (~125,000 items spread as arguments in one call). */
const LARGE = 130_000;

describe.each(DIALECTS)('large fan-outs on %s', (dialect) => {
  let fx: EngineFixture;
  let worker: Worker | undefined;
  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    await worker?.stop(1000);
    worker = undefined;
    await fx.close();
  });

  async function apply(name: string, steps: unknown[]): Promise<WorkflowView> {
    const { workflows } = fx.registry.as(fx.caller);
    return (await workflows.apply({ name, version: '1.0.0', steps })).workflow;
  }
  const start = (engine: Engine, workflow: WorkflowView, input: unknown) =>
    engine.startRun(fx.caller, workflow, fx.registry.as(fx.caller).agents, { input });
  const items = (n: number) => ({ items: Array.from({ length: n }, (_, i) => i) });

  /** `list` hands the trigger's items on; `fan` is released by its completion, in the completion hook. */
  const listThenFan = (name: string) =>
    apply(name, [
      { id: 'list', agent: 'builtin/transform', input: { items: '{{ trigger.items }}' } },
      { id: 'fan', agent: 'builtin/noop', needs: ['list'], for_each: 'steps.list.output.items' },
      {
        id: 'join',
        agent: 'builtin/transform',
        needs: ['fan'],
        input: { count: '{{ $count(steps.fan.output) }}' },
      },
    ]);

  it('fails a for_each with more items than SWARM_MAX_FAN_OUT: its run at run time, the request at the start', async () => {
    const capped = new Engine(fx.store, { maxFanOut: 10 });
    const workflow = await listThenFan('capped');
    const id = await start(capped, workflow, items(11));
    await drain({ ...fx, engine: capped });
    const run = await capped.getRun(fx.caller, id);
    expect(run).toMatchObject({ status: 'failed', errorStep: 'fan' });
    expect(run.error).toBe('for_each of step "fan" has 11 items, more than SWARM_MAX_FAN_OUT (10)');
    expect(run.steps.fan!.error).toBe(run.error);
    const tasks = await fx.store.handle.db
      .selectFrom('tasks')
      .select('step_id')
      .where('run_id', '=', id)
      .execute();
    expect(tasks.map((t) => t.step_id)).toEqual(['list']);

    // At the limit it runs.
    const fine = await start(capped, workflow, items(10));
    await drain({ ...fx, engine: capped });
    expect(await capped.getRun(fx.caller, fine)).toMatchObject({
      status: 'completed',
      result: { join: { count: 10 } },
    });

    // At a run's start it is the starter's bad input, with the default cap of 100,000.
    const first = await apply('first', [{ id: 'fan', agent: 'builtin/noop', for_each: 'trigger.items' }]);
    await expect(start(fx.engine, first, items(100_001))).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      message:
        'steps.fan.for_each: for_each of step "fan" has 100001 items, more than SWARM_MAX_FAN_OUT (100000)',
    });
    const runs = await fx.store.handle.db
      .selectFrom('workflow_runs')
      .select('id')
      .where('workflow_name', '=', 'first')
      .execute();
    expect(runs).toEqual([]);
  });

  it(`runs a ${LARGE}-item for_each released in a completion batch, and its fan-in, with the cap raised`, async () => {
    const engine = new Engine(fx.store, { maxFanOut: 200_000 });
    const config = loadConfig({ DATABASE_URL: fx.testDb.url, SWARM_HOME: fx.testDb.dir });
    worker = createWorker(fx.store, engine, config, pino({ level: 'silent' }), { concurrency: 512 });
    worker.start();
    // `gate` completes first, so the fan-out is released in the worker's completion batch (where
    // it overflowed); its items come from the trigger, so the run's step states stay small.
    const workflow = await apply('large', [
      { id: 'gate', agent: 'builtin/noop' },
      { id: 'fan', agent: 'builtin/noop', needs: ['gate'], for_each: 'trigger.items' },
      {
        id: 'join',
        agent: 'builtin/transform',
        needs: ['fan'],
        input: { count: '{{ $count(steps.fan.output) }}' },
      },
    ]);
    const id = await start(engine, workflow, items(LARGE));
    const run = await until(
      'the large fan-out to end',
      async () => {
        const view = await engine.getRun(fx.caller, id);
        return view.status === 'running' ? undefined : view;
      },
      // Generous: about 30 s on an idle 2-core machine, several times that on a busy one.
      400_000,
    );
    expect(run).toMatchObject({ status: 'completed', result: { join: { count: LARGE } } });
    expect(run.steps.fan).toMatchObject({ status: 'completed', items: { total: LARGE, done: LARGE } });
    expect((run.steps.fan!.output as unknown[]).length).toBe(LARGE);
  }, 450_000);
});
