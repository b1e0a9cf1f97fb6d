import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createWorker, type Worker } from '../../src/worker/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { FIXTURES } from '../runtimes/process-helpers.js';
import { until } from '../helpers/until.js';

describe.each(DIALECTS)('persistent (warm) process agents in workflows on %s', (dialect) => {
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

  function startWorker(): Worker {
    const config = loadConfig({ DATABASE_URL: fx.testDb.url, SWARM_HOME: fx.testDb.dir });
    worker = createWorker(fx.store, fx.engine, config, pino({ level: 'silent' }), { concurrency: 2 });
    worker.start();
    return worker;
  }

  async function registerWarm(runtime: Record<string, unknown> = {}, resources = {}): Promise<void> {
    await fx.registry.as(fx.caller).agents.register(
      {
        name: 'warm',
        version: '1.0.0',
        type: 'execution',
        capabilities: ['test:warm'],
        runtime: { type: 'node', entry: 'warm.js', mode: 'persistent', ...runtime },
        resources: { memory_mb: 256, timeout_seconds: 60, ...resources },
      },
      { path: path.join(FIXTURES, 'warm') },
    );
  }

  /** A workflow of `inputs.length` steps, one after the other, each running the warm agent. */
  async function chain(name: string, inputs: unknown[], more: Record<string, unknown> = {}): Promise<void> {
    await fx.registry.as(fx.caller).workflows.apply({
      name,
      version: '1.0.0',
      steps: inputs.map((input, i) => ({
        id: `s${i}`,
        agent: 'warm@1.0.0',
        input,
        ...(i === 0 ? {} : { needs: [`s${i - 1}`] }),
        ...more,
      })),
    });
  }

  async function run(workflowName: string) {
    const { workflows, agents } = fx.registry.as(fx.caller);
    const workflow = await workflows.get(workflowName);
    const id = await fx.engine.startRun(fx.caller, workflow, agents, { input: {} });
    worker?.notify();
    return until(`run ${id} to end`, async () => {
      const view = await fx.engine.getRun(fx.caller, id);
      return ['completed', 'failed', 'cancelled', 'timeout'].includes(view.status) ? view : undefined;
    });
  }

  const tasksOf = (runId: string) =>
    fx.store.handle.db
      .selectFrom('tasks')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('created_at')
      .execute();

  const instanceOf = (task: { result_data: string | null }) =>
    (JSON.parse(task.result_data ?? 'null') as { instance: string }).instance;

  it('serves the steps of a run from one process, recycles after max_tasks_per_process, and stops with the worker', async () => {
    await registerWarm({ max_tasks_per_process: 3 });
    await chain('w-warm', [{}, {}, {}, {}]);
    startWorker();
    const ended = await run('w-warm');
    expect(ended.status).toBe('completed');
    const tasks = await tasksOf(ended.id);
    const instances = tasks.map(instanceOf);
    expect(instances[1]).toBe(instances[0]);
    expect(instances[2]).toBe(instances[0]);
    expect(instances[3]).not.toBe(instances[0]);
    await worker!.stop(1000);
    worker = undefined;
    // Stopping the worker stopped its warm processes, and their working folders are gone.
    expect(fs.readdirSync(path.join(fx.testDb.dir, 'work'))).toEqual([]);
  });

  it('a crash mid-task is retried and succeeds on a fresh process', async () => {
    await registerWarm();
    await chain('w-crash', [{}, { mode: 'crash-first-attempt' }], {
      retry: { max_attempts: 2, backoff: 'fixed', initial_delay_ms: 100 },
    });
    startWorker();
    const ended = await run('w-crash');
    expect(ended.status).toBe('completed');
    const [first, crashed] = await tasksOf(ended.id);
    expect(crashed).toMatchObject({ status: 'COMPLETED', retry_count: 1 });
    expect(instanceOf(crashed!)).not.toBe(instanceOf(first!));
  });

  it('a timed-out task takes its process with it; the next task gets a fresh one', async () => {
    await registerWarm({}, { timeout_seconds: 1 });
    await chain('w-before', [{}]);
    await chain('w-sleep', [{ mode: 'sleep' }]);
    startWorker();
    const before = await run('w-before');
    const slept = await run('w-sleep');
    expect(slept.status).toBe('failed');
    const [timedOut] = await tasksOf(slept.id);
    expect(timedOut!.status).toBe('TIMEOUT');
    const after = await run('w-before');
    const [[a], [b]] = [await tasksOf(before.id), await tasksOf(after.id)];
    expect(instanceOf(b!)).not.toBe(instanceOf(a!));
  });
});
