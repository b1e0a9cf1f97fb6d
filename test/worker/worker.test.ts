import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { completeTasks, enqueueTasks, TASKS_CHANNEL } from '../../src/queue/index.js';
import { announcementOf, noteNoKeyedWork, shouldLookForKeyedWork } from '../../src/queue/flow/index.js';
import { Engine } from '../../src/engine/index.js';
import { BuiltinRuntime, DatabaseEventSink } from '../../src/runtimes/index.js';
import { Store } from '../../src/storage/index.js';
import { createWorker, Worker } from '../../src/worker/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { until } from '../helpers/until.js';
import { FIXTURES } from '../runtimes/process-helpers.js';

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli/main.js');

describe.each(DIALECTS)('workers on %s', (dialect) => {
  let fx: EngineFixture;
  let worker: Worker | undefined;
  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    vi.useRealTimers();
    await worker?.stop(1000);
    worker = undefined;
    await fx.close();
  });

  function startWorker(leaseMs = 30_000): Worker {
    const config = loadConfig({ DATABASE_URL: fx.testDb.url, SWARM_HOME: fx.testDb.dir });
    worker = createWorker(fx.store, fx.engine, config, pino({ level: 'silent' }), {
      leaseMs,
      concurrency: 4,
    });
    worker.start();
    return worker;
  }

  /**
   * A worker of builtin agents polling once an hour: a task it runs within a test's wait was
   * announced to it, not found by a poll.
   */
  function idleWorker(store: Store = fx.store, engine: Engine = fx.engine): Worker {
    return new Worker({
      store,
      engine,
      runtime: new BuiltinRuntime({
        http: { allowPrivateNetworks: false, timeoutMs: 1000, maxResponseBytes: 1024 },
      }),
      events: new DatabaseEventSink(store),
      logger: pino({ level: 'silent' }),
      pollMs: 3_600_000,
    });
  }

  /** idleWorker on the fixture's store, started and listening (stopped after the test). */
  async function startListeningWorker(): Promise<void> {
    worker = idleWorker();
    worker.start();
    await worker.listening();
  }

  /** A slow or worker-killing agent (test/runtimes/fixtures/probe): builtin/delay holds no worker. */
  async function registerProbe(): Promise<void> {
    await fx.registry.as(fx.caller).agents.register(
      {
        name: 'probe',
        version: '1.0.0',
        type: 'execution',
        capabilities: ['test:probe'],
        runtime: { type: 'node', entry: 'probe.js' },
      },
      { path: path.join(FIXTURES, 'probe') },
    );
  }

  async function startRun(steps: Array<Record<string, unknown>>, input: unknown = {}): Promise<string> {
    const { workflows, agents } = fx.registry.as(fx.caller);
    const { workflow } = await workflows.apply({
      name: `w${Math.random().toString(36).slice(2, 8)}`,
      version: '1.0.0',
      steps,
    });
    return fx.engine.startRun(fx.caller, workflow, agents, { input });
  }

  const finished = (id: string) =>
    until(`run ${id} to end`, async () => {
      const run = await fx.engine.getRun(fx.caller, id);
      return ['completed', 'failed', 'cancelled', 'timeout'].includes(run.status) ? run : undefined;
    });

  it('runs a three-step chain of builtin agents to completion', async () => {
    startWorker();
    const id = await startRun(
      [
        { id: 'a', agent: 'builtin/transform', input: { text: '{{ trigger.text }}' } },
        {
          id: 'b',
          agent: 'builtin/condition',
          needs: ['a'],
          input: { value: '{{ $length(steps.a.output.text) > 3 }}' },
        },
        {
          id: 'c',
          agent: 'builtin/transform',
          needs: ['b'],
          input: { long: '{{ steps.b.output.result }}', text: '{{ steps.a.output.text }}' },
        },
      ],
      { text: 'hello' },
    );
    worker!.notify();
    const run = await finished(id);
    expect(run).toMatchObject({ status: 'completed', result: { c: { long: true, text: 'hello' } } });
  });

  /** A worker whose runtime holds each attempt `holdMs` and counts how many run at once. */
  function countingWorker(concurrency: number, holdMs: number) {
    const builtin = new BuiltinRuntime({
      http: { allowPrivateNetworks: false, timeoutMs: 1000, maxResponseBytes: 1024 },
    });
    const seen = { running: 0, most: 0 };
    worker = new Worker({
      store: fx.store,
      engine: fx.engine,
      runtime: {
        execute: async (invocation, context) => {
          seen.most = Math.max(seen.most, ++seen.running);
          await new Promise((resolve) => setTimeout(resolve, holdMs));
          seen.running--;
          return builtin.execute(invocation, context);
        },
      },
      events: new DatabaseEventSink(fx.store),
      logger: pino({ level: 'silent' }),
      concurrency,
    });
    return { worker, seen };
  }

  /** A linear workflow of `n` builtin/transform steps passing `n` along. */
  const chain = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
      id: `s${i}`,
      agent: 'builtin/transform',
      ...(i === 0
        ? { input: { n: '{{ trigger.n }}' } }
        : { needs: [`s${i - 1}`], input: { n: `{{ steps.s${i - 1}.output.n }}` } }),
    }));

  it('claims next steps on completion, never running more than its concurrency at once', async () => {
    const { worker: counting, seen } = countingWorker(4, 10);
    const ids = [];
    for (let n = 0; n < 12; n++) ids.push(await startRun(chain(3), { n }));
    counting.start();
    for (const [n, id] of ids.entries())
      expect(await finished(id)).toMatchObject({ status: 'completed', result: { s2: { n } } });
    // Tasks taken on completion and tasks claimed from the queue share the worker's slots.
    expect(seen.most).toBeLessThanOrEqual(4);
    const tasks = await fx.store.handle.db.selectFrom('tasks').select(['status', 'lease_epoch']).execute();
    expect(tasks).toHaveLength(36);
    expect(tasks.every((t) => t.status === 'COMPLETED' && t.lease_epoch === 1)).toBe(true);
  });

  it('writes a batch of completions while the last is still being written on PostgreSQL; one at a time on SQLite', async () => {
    // The first batch's transaction waits (up to a while) for the second's to begin.
    let firstBegan!: () => void;
    const first = new Promise<void>((resolve) => (firstBegan = resolve));
    let secondBegan!: () => void;
    const second = new Promise<void>((resolve) => (secondBegan = resolve));
    const batches: boolean[] = [];
    const engine = Object.create(fx.engine) as Engine;
    Object.assign(engine, {
      onTasksCompleted: async (...args: Parameters<Engine['onTasksCompleted']>) => {
        if (batches.length === 0) {
          batches.push(false);
          firstBegan();
          batches[0] = await Promise.race([
            second.then(() => true),
            new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1500)),
          ]);
        } else {
          batches.push(true);
          secondBegan();
        }
        return fx.engine.onTasksCompleted(...args);
      },
    });
    const builtin = new BuiltinRuntime({
      http: { allowPrivateNetworks: false, timeoutMs: 1000, maxResponseBytes: 1024 },
    });
    let attempts = 0;
    worker = new Worker({
      store: fx.store,
      engine,
      runtime: {
        // The second attempt ends once the first's completion is being written.
        execute: async (invocation, context) => {
          if (attempts++ > 0) await first;
          return builtin.execute(invocation, context);
        },
      },
      events: new DatabaseEventSink(fx.store),
      logger: pino({ level: 'silent' }),
      concurrency: 2,
    });
    const ids = [await startRun(chain(1), { n: 1 }), await startRun(chain(1), { n: 2 })];
    worker.start();
    for (const [i, id] of ids.entries())
      expect(await finished(id)).toMatchObject({ status: 'completed', result: { s0: { n: i + 1 } } });
    expect(batches[0]).toBe(dialect === 'postgres');
  });

  it('keeps claiming from the queue while runs go on by claim on complete', async () => {
    const { worker: counting } = countingWorker(4, 10);
    const ids = [];
    for (let n = 0; n < 8; n++) ids.push(await startRun(chain(20), { n }));
    counting.start();
    const { db, dialect } = fx.store.handle;
    const completedSteps = async () =>
      Number(
        (
          await db
            .selectFrom('tasks')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('status', '=', 'COMPLETED')
            .executeTakeFirstOrThrow()
        ).n,
      );
    await until('the runs to be under way', async () => (await completedSteps()) >= 20);
    // Another owner's single task, while eight runs could fill every slot with their next steps.
    const other = (await fx.store.system.insertUserIfAbsent({
      name: 'B',
      email: 'b@example.com',
      role: 'member',
    }))!;
    const [single] = await enqueueTasks(db, dialect, [
      { ownerId: other.id, taskType: 'noop', agentName: 'builtin/noop', agentVersion: '1.0.0', input: {} },
    ]);
    for (const id of ids) expect((await finished(id)).status).toBe('completed');
    const startedAt = async (where: 'single' | 'steps') => {
      const q = db.selectFrom('tasks').select('started_at');
      const rows = await (
        where === 'single' ? q.where('id', '=', single!) : q.where('run_id', 'is not', null)
      ).execute();
      return rows.map((row) => Date.parse(String(row.started_at)));
    };
    const [singleStarted] = await startedAt('single');
    // Half the slots stay the queue's: the task started within a claim cycle or two of its
    // enqueue, when some 140 of the runs' 160 steps were still to start (about 125 started after
    // it here; about 70 when completion batches could take every free slot).
    const stepsAfter = (await startedAt('steps')).filter((at) => at > singleStarted!).length;
    expect(stepsAfter).toBeGreaterThanOrEqual(100);
  });

  it('times out an attempt that runs too long and records TIMEOUT', async () => {
    await registerProbe();
    startWorker();
    const id = await startRun([
      { id: 'slow', agent: 'probe@1.0.0', timeout_seconds: 1, input: { mode: 'wait', ms: 60_000 } },
    ]);
    const run = await finished(id);
    expect(run.status).toBe('failed');
    const task = await fx.store.handle.db
      .selectFrom('tasks')
      .selectAll()
      .where('run_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(task.status).toBe('TIMEOUT');
    expect(task.error_message).toMatch(/TIMEOUT/);
  });

  it('stops a running attempt when its run is cancelled', async () => {
    await registerProbe();
    const w = startWorker();
    const id = await startRun([{ id: 'long', agent: 'probe@1.0.0', input: { mode: 'wait', ms: 60_000 } }]);
    w.notify();
    await until('the task to run', async () =>
      fx.store.handle.db
        .selectFrom('tasks')
        .select('id')
        .where('run_id', '=', id)
        .where('status', '=', 'RUNNING')
        .executeTakeFirst(),
    );
    await fx.engine.cancelRun(fx.caller, id, 'too slow');
    // The worker's heartbeat (at least every second) finds the lease gone and aborts the
    // attempt, freeing its slot long before the 60 s delay would end. Not timed: waited for.
    await until(
      'the attempt to stop',
      async () => (w as unknown as { inFlight: Map<string, unknown> }).inFlight.size === 0,
    );
    const task = await fx.store.handle.db
      .selectFrom('tasks')
      .selectAll()
      .where('run_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(task).toMatchObject({
      status: 'CANCELLED',
      cancellation_reason: 'too slow',
      cancelled_by: fx.caller.userId,
    });
    expect((await fx.engine.getRun(fx.caller, id)).status).toBe('cancelled');
  });

  it('times out a run at its deadline and stops its running attempt; on_error handlers run', async () => {
    await registerProbe();
    const w = startWorker();
    const { workflows, agents } = fx.registry.as(fx.caller);
    const { workflow } = await workflows.apply({
      name: 'deadline',
      version: '1.0.0',
      timeout_seconds: 1,
      steps: [{ id: 'long', agent: 'probe@1.0.0', input: { mode: 'wait', ms: 60_000 } }],
      on_error: { agent: 'builtin/transform', input: { why: '{{ run.error }}' } },
    });
    const id = await fx.engine.startRun(fx.caller, workflow, agents, {});
    w.notify();
    const ended = await finished(id);
    expect(ended).toMatchObject({ status: 'timeout', error: 'run timed out after 1 s', errorStep: 'long' });
    // The heartbeat finds the cancelled lease and aborts the 60 s wait; the handler runs.
    await until(
      'the handler to complete',
      async () => (await fx.engine.getRun(fx.caller, id)).handlers[0]?.status === 'completed',
    );
    await until(
      'the attempt to stop',
      async () => (w as unknown as { inFlight: Map<string, unknown> }).inFlight.size === 0,
    );
    const handler = (await fx.engine.getRun(fx.caller, id)).handlers[0]!;
    expect(handler.output).toEqual({ why: 'run timed out after 1 s' });
  });

  it('wakes an idle worker as soon as a task is enqueued (SQLite: in-process signal; PostgreSQL: NOTIFY)', async () => {
    await startListeningWorker();
    // Let the first (empty) claim pass, so the worker sleeps on its hour-long poll.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [taskId] = await enqueueTasks(fx.store.handle.db, fx.store.handle.dialect, [
      {
        ownerId: fx.caller.userId,
        taskType: 'noop',
        agentName: 'builtin/noop',
        agentVersion: '1.0.0',
        input: {},
      },
    ]);
    await until('the idle worker to run the task', async () =>
      fx.store.handle.db
        .selectFrom('tasks')
        .select('id')
        .where('id', '=', taskId!)
        .where('status', '=', 'COMPLETED')
        .executeTakeFirst(),
    );
  });

  // A worker that found no keyed work skips the keyed look for PROBE_MS; an announcement of keyed
  // work (queued in another process: an enqueue, a reclaim, a release) ends that pause at once.
  it('ends its keyed pause when it hears keyed work announced, and not for unkeyed work', async () => {
    await startListeningWorker();
    const { db, dialect: adapter } = fx.store.handle;
    // Sends an announcement and waits until a listener of this test has heard it.
    const announce = async (payload: string) => {
      let heard!: () => void;
      const arrived = new Promise<void>((resolve) => (heard = resolve));
      const stop = await fx.store.handle.listen(TASKS_CHANNEL, () => heard());
      await adapter.notify(db as never, TASKS_CHANNEL, payload);
      await arrived;
      await stop?.();
    };
    // The pause is measured on performance.now(): frozen here, it cannot run out by itself.
    const realNow = performance.now();
    vi.useFakeTimers({ toFake: ['performance'] });
    vi.advanceTimersByTime(realNow + 1);
    noteNoKeyedWork();
    await announce(announcementOf({ keyed: false, unkeyed: true }));
    // Time for the worker's own listener too (a wrong note would show by then).
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(shouldLookForKeyedWork()).toBe(false);
    await announce(announcementOf({ keyed: true, unkeyed: false }));
    await until('the worker to look for keyed work again', async () => shouldLookForKeyedWork());
  });

  // Two handles stand for two processes: only PostgreSQL carries notifications between them.
  it.runIf(dialect === 'postgres')(
    'wakes an idle worker in another process through LISTEN/NOTIFY, not polling',
    async () => {
      const other = await Store.open(fx.testDb.url, { migrate: false });
      const idle = idleWorker(other, new Engine(other));
      try {
        idle.start();
        await idle.listening();
        const [taskId] = await enqueueTasks(fx.store.handle.db, fx.store.handle.dialect, [
          {
            ownerId: fx.caller.userId,
            taskType: 'noop',
            agentName: 'builtin/noop',
            agentVersion: '1.0.0',
            input: {},
          },
        ]);
        const done = await until('the idle worker to run the task', async () =>
          fx.store.handle.db
            .selectFrom('tasks')
            .selectAll()
            .where('id', '=', taskId!)
            .where('status', '=', 'COMPLETED')
            .executeTakeFirst(),
        );
        expect(done.worker_id).toBe(idle.workerId);
      } finally {
        await idle.stop(1000);
        await other.close();
      }
    },
  );

  // On SQLite one connection serialises claims behind the write anyway: only PostgreSQL can go
  // on claiming while a completion write is held up.
  it.runIf(dialect === 'postgres')(
    'stops claiming while its completions wait past a third of a lease to be written, and catches up after',
    async () => {
      let opened!: () => void;
      const gate = new Promise<void>((resolve) => (opened = resolve));
      let held = false;
      // The first completion batch's write waits at the gate, in its transaction; the completions
      // that follow wait for it in the worker.
      const engine = Object.create(fx.engine, {
        onTasksCompleted: {
          value: async (...args: Parameters<Engine['onTasksCompleted']>) => {
            if (!held) {
              held = true;
              await gate;
            }
            return fx.engine.onTasksCompleted(...args);
          },
        },
      }) as Engine;
      const total = 20_000;
      await enqueueTasks(
        fx.store.handle.db,
        fx.store.handle.dialect,
        Array.from({ length: total }, () => ({
          ownerId: fx.caller.userId,
          taskType: 'noop',
          agentName: 'builtin/noop',
          agentVersion: '1.0.0',
          input: {},
        })),
      );
      const config = loadConfig({ DATABASE_URL: fx.testDb.url, SWARM_HOME: fx.testDb.dir });
      // A 6 s lease: claiming stops once the oldest unwritten completion is 2 s old.
      worker = createWorker(fx.store, engine, config, pino({ level: 'silent' }), {
        leaseMs: 6000,
        concurrency: 4,
      });
      const count = async (status: string) =>
        Number(
          (
            await fx.store.handle.db
              .selectFrom('tasks')
              .select((eb) => eb.fn.countAll().as('n'))
              .where('status', '=', status)
              .executeTakeFirstOrThrow()
          ).n,
        );
      try {
        worker.start();
        await until('the first completion write to be held', async () => held || undefined);
        await new Promise((resolve) => setTimeout(resolve, 2500));
        const claimed = await count('RUNNING');
        await new Promise((resolve) => setTimeout(resolve, 1000));
        expect(await count('RUNNING')).toBe(claimed);
        expect(await count('PENDING')).toBeGreaterThan(0);
      } finally {
        opened();
      }
      // A few seconds alone; minutes when the machine is shared (a CI run beside other suites).
      await until(
        'every task to complete',
        async () => ((await count('COMPLETED')) === total ? true : undefined),
        180_000,
      );
    },
    240_000,
  );

  /** A standalone worker process (dist/), as `swarm worker` runs it. */
  function spawnWorker(env: Record<string, string> = {}) {
    return spawn(process.execPath, [MAIN, 'worker', '--lease-ms', '1000', '--concurrency', '1'], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: fx.testDb.url,
        SWARM_HOME: fx.testDb.dir,
        SWARM_LOG_LEVEL: 'silent',
        ...env,
      },
      stdio: 'ignore',
    });
  }

  const logsOf = (runId: string) =>
    fx.store.handle.db
      .selectFrom('execution_logs')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('id')
      .execute();

  it('retries the task of a worker killed with SIGKILL without spending an attempt: with max_attempts 1 the run completes, the step is recorded once, the dead lease is refused', async () => {
    await registerProbe();
    const id = await startRun([
      // The default retry policy: one attempt. Losing the worker is not the step failing.
      { id: 'slow', agent: 'probe@1.0.0', input: { mode: 'wait', ms: 1500 } },
      {
        id: 'after',
        agent: 'builtin/transform',
        needs: ['slow'],
        input: { waited: '{{ steps.slow.output.waited_ms }}' },
      },
    ]);
    const child = spawnWorker();
    const held = await until('the child worker to hold the task', async () =>
      fx.store.handle.db
        .selectFrom('tasks')
        .selectAll()
        .where('run_id', '=', id)
        .where('status', '=', 'RUNNING')
        .executeTakeFirst(),
    );
    expect(held.max_retries).toBe(0);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));

    startWorker(1000);
    const run = await finished(id);
    expect(run).toMatchObject({ status: 'completed', result: { after: { waited: 1500 } } });

    const tasks = await fx.store.handle.db
      .selectFrom('tasks')
      .selectAll()
      .where('run_id', '=', id)
      .where('step_id', '=', 'slow')
      .execute();
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ status: 'COMPLETED', retry_count: 0, lease_losses: 1 });
    expect(tasks[0]!.lease_epoch).toBeGreaterThan(held.lease_epoch);
    const assignments = await fx.store.handle.db
      .selectFrom('worker_assignments')
      .selectAll()
      .where('task_id', '=', held.id)
      .orderBy('assigned_at')
      .execute();
    // The lost lease has its row; the attempt that completed the task is the task row's own.
    expect(assignments.map((a) => a.status)).toEqual(['lost']);
    expect(assignments[0]!.worker_id).toBe(held.locked_by);
    expect(tasks[0]!.worker_id).not.toBe(held.locked_by);
    // The run's log says what happened to the step.
    expect((await logsOf(id)).map((l) => l.message)).toContain(
      'step slow: lease lost (worker died or stalled), retrying attempt 1 (lease loss 1 of 3)',
    );

    // The dead worker's late completion, under its old lease, is refused and changes nothing.
    const late = await completeTasks(
      fx.store.handle,
      [{ id: held.id, leaseEpoch: held.lease_epoch, output: { forged: true } }],
      {
        onCompleted: fx.engine.onTaskCompleted,
      },
    );
    expect(late.completed).toEqual([]);
    expect(late.rejected).toEqual([held.id]);
    const after = await fx.engine.getRun(fx.caller, id);
    expect(after.steps.slow!.output).toEqual({ waited_ms: 1500 });
    expect(after.result).toEqual({ after: { waited: 1500 } });
  }, 120_000);

  it('does not take its own live tasks away from itself after its process stalled past their leases', async () => {
    await registerProbe();
    const w = startWorker(300);
    const id = await startRun([{ id: 'slow', agent: 'probe@1.0.0', input: { mode: 'wait', ms: 1500 } }]);
    w.notify();
    await until('the task to run', async () =>
      fx.store.handle.db
        .selectFrom('tasks')
        .select('id')
        .where('run_id', '=', id)
        .where('status', '=', 'RUNNING')
        .executeTakeFirst(),
    );
    // The whole process stops (a long GC, a blocked event loop) for three leases: when it wakes,
    // its reclaim timer and its heartbeat are both due. It renews first, so nothing is lost.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
    const run = await finished(id);
    expect(run.status).toBe('completed');
    const task = await fx.store.handle.db
      .selectFrom('tasks')
      .selectAll()
      .where('run_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(task).toMatchObject({ status: 'COMPLETED', lease_losses: 0, retry_count: 0 });
  });

  it('fails a step whose worker keeps dying after SWARM_MAX_LEASE_LOSSES lost leases, saying so, its attempts unspent', async () => {
    await registerProbe();
    // Each worker that takes this step is killed by it.
    const id = await startRun([
      { id: 'deadly', agent: 'probe@1.0.0', retry: { max_attempts: 5 }, input: { mode: 'killworker' } },
    ]);
    // Unisolated: an isolated agent cannot see, let alone kill, the worker that runs it.
    const env = { SWARM_MAX_LEASE_LOSSES: '2', SWARM_AGENT_ISOLATION: 'none' };
    // Workers one after the other: each reclaims the lease its dead predecessor lost, takes the
    // task and dies on it, until one reclaims the second lost lease — the last one allowed.
    const ended = async () => {
      const view = await fx.engine.getRun(fx.caller, id);
      return ['completed', 'failed', 'cancelled', 'timeout'].includes(view.status) ? view : undefined;
    };
    let run = await ended();
    for (let spawned = 0; run === undefined; spawned++) {
      expect(spawned, 'workers spawned').toBeLessThan(5);
      const child = spawnWorker(env);
      try {
        await until(
          'the worker to die or the run to end',
          async () => child.exitCode !== null || child.signalCode !== null || (run = await ended()),
          90_000,
        );
      } finally {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await new Promise((resolve) => child.once('exit', resolve));
        }
      }
    }
    const message = 'lease lost 2 times (worker died or stalled; SWARM_MAX_LEASE_LOSSES=2)';
    expect(run).toMatchObject({ status: 'failed', error: `step deadly failed: ${message}` });
    const kills = await fx.store.handle.db
      .selectFrom('worker_assignments')
      .select('status')
      .where('run_id', '=', id)
      .execute();
    expect(kills.map((a) => a.status)).toEqual(['lost', 'lost']);
    const task = await fx.store.handle.db
      .selectFrom('tasks')
      .selectAll()
      .where('run_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(task).toMatchObject({
      status: 'TIMEOUT',
      error_message: message,
      lease_losses: 2,
      retry_count: 0,
      max_retries: 4,
    });
    expect((await logsOf(id)).map((l) => l.message)).toEqual(
      expect.arrayContaining([
        'step deadly: lease lost (worker died or stalled), retrying attempt 1 (lease loss 1 of 2)',
        expect.stringContaining(`run failed at step deadly: step deadly failed: ${message}`),
      ]),
    );
  }, 180_000);
});
