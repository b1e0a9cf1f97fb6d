import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Engine } from '../../src/engine/index.js';
import { Store } from '../../src/storage/index.js';
import { createWorker, type Worker } from '../../src/worker/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { until } from '../helpers/until.js';

/** builtin/delay sleeps on the queue: no worker slot is held, and restarts do not restart it. */
describe.each(DIALECTS)('builtin/delay in workflows on %s', (dialect) => {
  let fx: EngineFixture;
  const workers: Worker[] = [];
  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop(1000);
    await fx.close();
  });

  function startWorker(store: Store = fx.store, engine: Engine = fx.engine, concurrency = 1): Worker {
    const config = loadConfig({ DATABASE_URL: fx.testDb.url, SWARM_HOME: fx.testDb.dir });
    const worker = createWorker(store, engine, config, pino({ level: 'silent' }), { concurrency });
    workers.push(worker);
    worker.start();
    return worker;
  }

  async function startRun(steps: Array<Record<string, unknown>>): Promise<string> {
    const { workflows, agents } = fx.registry.as(fx.caller);
    const { workflow } = await workflows.apply({
      name: `w${Math.random().toString(36).slice(2, 8)}`,
      version: '1.0.0',
      steps,
    });
    const id = await fx.engine.startRun(fx.caller, workflow, agents, { input: {} });
    for (const w of workers) w.notify();
    return id;
  }

  const finished = (id: string, ms?: number) =>
    until(
      `run ${id} to end`,
      async () => {
        const run = await fx.engine.getRun(fx.caller, id);
        return ['completed', 'failed', 'cancelled', 'timeout'].includes(run.status) ? run : undefined;
      },
      ms,
    );

  const delayTask = (runId: string) =>
    fx.store.handle.db
      .selectFrom('tasks')
      .selectAll()
      .where('run_id', '=', runId)
      .where('step_id', '=', 'wait')
      .executeTakeFirstOrThrow();

  const asleep = (runId: string) =>
    until('the delay to sleep on the queue', async () => {
      const task = await delayTask(runId);
      return task.status === 'PENDING' && task.resume_state !== null ? task : undefined;
    });

  const inFlight = (w: Worker) => (w as unknown as { inFlight: Map<string, unknown> }).inFlight.size;

  it('completes after its due time, as one attempt', async () => {
    startWorker();
    const id = await startRun([
      { id: 'wait', agent: 'builtin/delay', input: { ms: 1500 } },
      { id: 'after', agent: 'builtin/transform', needs: ['wait'], input: { w: '{{ steps.wait.output }}' } },
    ]);
    const run = await finished(id);
    expect(run.status).toBe('completed');
    const task = await delayTask(id);
    const output = run.steps.wait!.output as { waited_ms: number; until: string };
    expect(output.waited_ms).toBe(1500);
    expect(Date.parse(task.completed_at!)).toBeGreaterThanOrEqual(Date.parse(output.until));
    expect(Date.parse(output.until) - Date.parse(task.created_at)).toBeGreaterThanOrEqual(1500);
    expect(task).toMatchObject({ status: 'COMPLETED', retry_count: 0, lease_losses: 0 });
    const assignments = await fx.store.handle.db
      .selectFrom('worker_assignments')
      .select('status')
      .where('task_id', '=', task.id)
      .orderBy('assigned_at')
      .execute();
    // The first claim put it to sleep; the second completed it, and the task row keeps that one.
    expect(assignments.map((a) => a.status)).toEqual(['released']);
    expect(task.lease_epoch).toBe(2);
  });

  it('holds no worker slot while it waits: a concurrency-1 worker runs other runs meanwhile', async () => {
    const worker = startWorker();
    const long = await startRun([{ id: 'wait', agent: 'builtin/delay', input: { ms: 3_600_000 } }]);
    const sleeping = await asleep(long);
    expect(Date.parse(sleeping.run_at)).toBeGreaterThan(Date.now() + 3_000_000);
    expect(inFlight(worker)).toBe(0);

    const other = await startRun([
      { id: 'a', agent: 'builtin/transform', input: { n: 1 } },
      { id: 'b', agent: 'builtin/transform', needs: ['a'], input: { n: '{{ steps.a.output.n + 1 }}' } },
    ]);
    expect(await finished(other)).toMatchObject({ status: 'completed', result: { b: { n: 2 } } });
    expect((await delayTask(long)).status).toBe('PENDING');
    // A sleeping step is cancelled like any waiting one.
    await fx.engine.cancelRun(fx.caller, long, 'no need to wait');
    expect((await delayTask(long)).status).toBe('CANCELLED');
  });

  it('survives a restart of every process mid-delay: a new store and worker complete it', async () => {
    const first = startWorker();
    const id = await startRun([{ id: 'wait', agent: 'builtin/delay', input: { ms: 2000 } }]);
    const sleeping = await asleep(id);
    await first.stop(1000);
    workers.splice(workers.indexOf(first), 1);

    const store = await Store.open(fx.testDb.url, { migrate: false });
    try {
      const second = startWorker(store, new Engine(store));
      const run = await finished(id);
      expect(run).toMatchObject({ status: 'completed' });
      expect(run.steps.wait!.output).toEqual({ waited_ms: 2000, until: expect.any(String) });
      const task = await delayTask(id);
      // The wait was not restarted: it ended when first planned.
      expect((run.steps.wait!.output as { until: string }).until).toBe(sleeping.run_at);
      expect(task.worker_id).toBe(second.workerId);
      await second.stop(1000);
      workers.splice(workers.indexOf(second), 1);
    } finally {
      await store.close();
    }
  });

  it('sleeps until sleep_until; one already past completes at once without sleeping', async () => {
    startWorker();
    const due = new Date(Date.now() + 1500).toISOString();
    const future = await startRun([{ id: 'wait', agent: 'builtin/delay', input: { sleep_until: due } }]);
    const past = await startRun([
      { id: 'wait', agent: 'builtin/delay', input: { sleep_until: '2000-01-01T00:00:00Z' } },
    ]);
    expect((await finished(past)).steps.wait!.output).toEqual({
      waited_ms: 0,
      until: '2000-01-01T00:00:00.000Z',
    });
    expect((await delayTask(past)).resume_state).toBeNull();
    const run = await finished(future);
    expect(run.steps.wait!.output).toMatchObject({ until: due });
    expect(Date.parse((await delayTask(future)).completed_at!)).toBeGreaterThanOrEqual(Date.parse(due));
  });

  it('fails the step at once on an invalid sleep_until, naming the field', async () => {
    startWorker();
    const id = await startRun([
      {
        id: 'wait',
        agent: 'builtin/delay',
        retry: { max_attempts: 3 },
        input: { sleep_until: '31/01/2030 09:00' },
      },
    ]);
    const run = await finished(id);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/input\.sleep_until: must be an ISO 8601 timestamp/);
    expect(await delayTask(id)).toMatchObject({ status: 'FAILED', retry_count: 0 });
  });
});
