import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/index.js';
import { Registry, type WorkflowView } from '../../src/registry/index.js';
import { claimTasks, completeTasks, failTask, type ClaimedTask } from '../../src/queue/index.js';
import { Store } from '../../src/storage/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { drain, engineFixture, type EngineFixture } from './helpers.js';

describe.each(DIALECTS)('workflow concurrency on %s', (dialect) => {
  let fx: EngineFixture;
  /** Tasks claimed and not yet finished, by run. */
  let held: Map<string, ClaimedTask[]>;
  beforeEach(async () => {
    fx = await engineFixture(dialect);
    held = new Map();
  });
  afterEach(async () => {
    await fx.close();
  });

  async function apply(concurrency: Record<string, unknown>, more: Record<string, unknown> = {}) {
    const { workflows } = fx.registry.as(fx.caller);
    return (
      await workflows.apply({
        name: `wf-${Math.random().toString(36).slice(2, 8)}`,
        version: '1.0.0',
        concurrency,
        steps: [{ id: 'a', agent: 'builtin/transform', input: { tenant: '{{ trigger.tenant }}' } }],
        ...more,
      })
    ).workflow;
  }
  const start = (workflow: WorkflowView, input: unknown, engine: Engine = fx.engine) =>
    engine.startRun(fx.caller, workflow, fx.registry.as(fx.caller).agents, { input });
  const run = (id: string) => fx.engine.getRun(fx.caller, id);
  const statuses = async (ids: readonly string[]) =>
    Promise.all(ids.map(async (id) => (await run(id)).status));
  const hooks = () => ({ onCompletedBatch: fx.engine.onTasksCompleted, onFailed: fx.engine.onTaskFailed });

  async function claimAll(): Promise<void> {
    const batch = await claimTasks(fx.store.handle, { workerId: 'w', limit: 100, leaseMs: 60_000 });
    for (const task of batch) held.set(task.runId!, [...(held.get(task.runId!) ?? []), task]);
  }
  async function finish(runId: string, how: 'complete' | 'fail' = 'complete'): Promise<void> {
    await claimAll();
    const tasks = held.get(runId) ?? [];
    expect(tasks.length).toBeGreaterThan(0);
    held.delete(runId);
    for (const task of tasks)
      if (how === 'complete')
        await completeTasks(
          fx.store.handle,
          [{ id: task.id, leaseEpoch: task.leaseEpoch, output: {} }],
          hooks(),
        );
      else
        await failTask(
          fx.store.handle,
          { id: task.id, leaseEpoch: task.leaseEpoch, error: 'boom', retryable: false },
          hooks(),
        );
  }

  it('queue: keeps at most `limit` runs of a key running and starts the rest in order as runs end, by every path', async () => {
    const workflow = await apply({ key: 'input.tenant', limit: 2 }, { timeout_seconds: 60 });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await start(workflow, { tenant: 'acme' }));
    const other = await start(workflow, { tenant: 'globex' });
    expect(await statuses(ids)).toEqual(['running', 'running', 'pending', 'pending', 'pending', 'pending']);
    // Another key has slots of its own.
    expect((await run(other)).status).toBe('running');
    const waiting = await run(ids[2]!);
    expect(waiting).toMatchObject({ concurrencyKey: 'acme', startedAt: null, timeoutAt: null });
    // A waiting run has no tasks yet.
    const tasksOf = async (id: string) =>
      fx.store.handle.db.selectFrom('tasks').select('id').where('run_id', '=', id).execute();
    expect(await tasksOf(ids[2]!)).toHaveLength(0);

    // Completion frees a slot: the oldest waiting run starts, in the same transaction.
    await finish(ids[0]!);
    expect(await statuses(ids)).toEqual(['completed', 'running', 'running', 'pending', 'pending', 'pending']);
    expect((await run(ids[2]!)).timeoutAt).not.toBeNull();
    // Failure.
    await finish(ids[1]!, 'fail');
    expect(await statuses(ids)).toEqual(['completed', 'failed', 'running', 'running', 'pending', 'pending']);
    // Cancel.
    await fx.engine.cancelRun(fx.caller, ids[2]!);
    expect(await statuses(ids)).toEqual([
      'completed',
      'failed',
      'cancelled',
      'running',
      'running',
      'pending',
    ]);
    // Cancelling a waiting run frees nothing.
    await fx.engine.cancelRun(fx.caller, ids[5]!);
    expect(await statuses(ids)).toEqual([
      'completed',
      'failed',
      'cancelled',
      'running',
      'running',
      'cancelled',
    ]);
    // Run timeout: both running runs time out; nothing waits any more.
    expect(await fx.engine.timeOutRuns(new Date(Date.now() + 61_000))).toBe(3);
    expect(await statuses(ids)).toEqual([
      'completed',
      'failed',
      'cancelled',
      'timeout',
      'timeout',
      'cancelled',
    ]);
  });

  it('queue: a retry waits for a slot like a new run, and a run that ends at once frees it', async () => {
    const workflow = await apply({ limit: 1 });
    const first = await start(workflow, { tenant: 'x' });
    await finish(first, 'fail');
    const second = await start(workflow, { tenant: 'x' });
    const retried = await fx.engine.retryRun(fx.caller, first);
    expect(retried).toMatchObject({ status: 'pending', attempt: 2, concurrencyKey: '' });
    await finish(second);
    expect((await run(first)).status).toBe('running');
    await drain(fx);
    expect(await statuses([first, second])).toEqual(['completed', 'completed']);
  });

  it('cancel_in_progress: a new run over the limit cancels the oldest running run, naming the newer', async () => {
    const workflow = await apply({ key: 'input.tenant', limit: 1, strategy: 'cancel_in_progress' });
    const first = await start(workflow, { tenant: 'acme' });
    await claimAll();
    const second = await start(workflow, { tenant: 'acme' });
    const cancelled = await run(first);
    expect(cancelled).toMatchObject({ status: 'cancelled', cancelledBy: 'engine' });
    expect(cancelled.cancellationReason).toContain(`cancelled by newer run ${second}`);
    expect((await run(second)).status).toBe('running');
    // Its claimed task was cancelled too: its completion is refused.
    const [task] = held.get(first)!;
    const row = await fx.store.handle.db
      .selectFrom('tasks')
      .select('status')
      .where('id', '=', task!.id)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('CANCELLED');
    const ended = await fx.store.handle.db
      .selectFrom('events')
      .select('type')
      .where('run_id', '=', first)
      .execute();
    expect(ended.map((e) => e.type)).toContain('run.cancelled');
  });

  it('cancel_newest: a new run over the limit is recorded cancelled at once; a retry of it is refused while full', async () => {
    const workflow = await apply({ limit: 1, strategy: 'cancel_newest' });
    const first = await start(workflow, {});
    const second = await start(workflow, {});
    expect((await run(first)).status).toBe('running');
    const newest = await run(second);
    expect(newest).toMatchObject({ status: 'cancelled', cancelledBy: 'engine', startedAt: null });
    expect(newest.cancellationReason).toMatch(/concurrency limit reached \(cancel_newest\)/);
    await expect(fx.engine.retryRun(fx.caller, second)).rejects.toMatchObject({ code: 'CONFLICT' });
    await drain(fx);
    expect((await fx.engine.retryRun(fx.caller, second)).status).toBe('running');
  });

  it('a key that does not evaluate to a scalar is the starter’s bad input, and nothing is written', async () => {
    const workflow = await apply({ key: 'input.tenant', limit: 1 });
    await expect(start(workflow, { tenant: { a: 1 } })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      issues: [{ field: 'concurrency.key' }],
    });
    await expect(start(workflow, {})).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    const rows = await fx.store.handle.db.selectFrom('workflow_runs').select('id').execute();
    expect(rows).toHaveLength(0);
  });

  it('concurrent starts from two processes never exceed the limit', async () => {
    const workflow = await apply({ key: 'input.tenant', limit: 2 });
    // A second process: its own store and connections on PostgreSQL (SQLite has one writer: a
    // second engine over the same store), and its own engine.
    const store2 = dialect === 'postgres' ? await Store.open(fx.testDb.url) : fx.store;
    try {
      const engine2 = new Engine(store2);
      const workflow2 = await new Registry(store2).as(fx.caller).workflows.get(workflow.name);
      const ids = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          i % 2 === 0
            ? start(workflow, { tenant: 'acme' })
            : engine2.startRun(fx.caller, workflow2, new Registry(store2).as(fx.caller).agents, {
                input: { tenant: 'acme' },
              }),
        ),
      );
      const all = await statuses(ids);
      expect(all.filter((s) => s === 'running')).toHaveLength(2);
      expect(all.filter((s) => s === 'pending')).toHaveLength(8);
      // Ends from both processes at once: still never more than two running, all done in the end.
      for (let round = 0; round < 10; round++) {
        const running = (await statuses(ids)).filter((s) => s === 'running').length;
        expect(running).toBeLessThanOrEqual(2);
        if (running === 0) break;
        await claimAll();
        const finishing = [...held.entries()];
        held.clear();
        await Promise.all(
          finishing.map(([, tasks], i) =>
            completeTasks(
              (i % 2 === 0 ? fx.store : store2).handle,
              tasks.map((t) => ({ id: t.id, leaseEpoch: t.leaseEpoch, output: {} })),
              i % 2 === 0
                ? hooks()
                : { onCompletedBatch: engine2.onTasksCompleted, onFailed: engine2.onTaskFailed },
            ),
          ),
        );
      }
      expect(await statuses(ids)).toEqual(ids.map(() => 'completed'));
    } finally {
      if (store2 !== fx.store) await store2.close();
    }
  });

  it('the safety-net sweep starts waiting runs whose slot was freed by another path', async () => {
    const workflow = await apply({ limit: 1 });
    const first = await start(workflow, {});
    const second = await start(workflow, {});
    // A slot freed outside the engine (an operator's hand edit): nothing admitted the next run.
    await fx.store.handle.db
      .updateTable('workflow_runs')
      .set({ status: 'failed' })
      .where('id', '=', first)
      .execute();
    expect((await run(second)).status).toBe('pending');
    expect(await fx.engine.admitWaitingRuns()).toBe(1);
    expect((await run(second)).status).toBe('running');
    expect(await fx.engine.admitWaitingRuns()).toBe(0);
    // Freed by hand again, with a run waiting: a new start queues behind it (FIFO), and the older
    // one starts at once, in that start's transaction.
    const third = await start(workflow, {});
    await fx.store.handle.db
      .updateTable('workflow_runs')
      .set({ status: 'failed' })
      .where('id', '=', second)
      .execute();
    const fourth = await start(workflow, {});
    expect(await statuses([third, fourth])).toEqual(['running', 'pending']);
    await drain(fx);
    expect(await statuses([third, fourth])).toEqual(['completed', 'completed']);
  });
});
