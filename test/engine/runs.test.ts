import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkflowView } from '../../src/registry/index.js';
import { claimTasks, completeTasks } from '../../src/queue/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { drain, engineFixture, type EngineFixture } from './helpers.js';

type Step = Record<string, unknown>;
const t = (id: string, more: Step = {}): Step => ({
  id,
  agent: 'builtin/transform',
  input: { step: id },
  ...more,
});

describe.each(DIALECTS)('runs on %s', (dialect) => {
  let fx: EngineFixture;
  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    await fx.close();
  });

  async function apply(steps: Step[], more: Record<string, unknown> = {}): Promise<WorkflowView> {
    const { workflows } = fx.registry.as(fx.caller);
    return (
      await workflows.apply({
        name: `wf-${Math.random().toString(36).slice(2, 8)}`,
        version: '1.0.0',
        steps,
        ...more,
      })
    ).workflow;
  }
  async function start(workflow: WorkflowView, input: unknown = {}): Promise<string> {
    return fx.engine.startRun(fx.caller, workflow, fx.registry.as(fx.caller).agents, { input });
  }
  const run = (id: string) => fx.engine.getRun(fx.caller, id);

  it('runs a DAG in dependency order and passes outputs along', async () => {
    const workflow = await apply([
      t('a', { input: { n: '{{ trigger.n }}' } }),
      t('b', { needs: ['a'], input: { doubled: '{{ steps.a.output.n * 2 }}' } }),
      t('c', { needs: ['a'], input: { label: 'n is {{ steps.a.output.n }}' } }),
      t('d', {
        needs: ['b', 'c'],
        input: {
          sum: '{{ steps.b.output.doubled + steps.a.output.n }}',
          label: '{{ steps.c.output.label }}',
        },
      }),
    ]);
    const id = await start(workflow, { n: 21 });
    const claimed = await drain(fx);
    const order = claimed.map((c) => c.stepId);
    expect(order[0]).toBe('a');
    expect(order.slice(1, 3).sort()).toEqual(['b', 'c']);
    expect(order[3]).toBe('d');
    const done = await run(id);
    expect(done).toMatchObject({
      status: 'completed',
      result: { d: { sum: 63, label: 'n is 21' } },
      error: null,
    });
    expect(Object.values(done.steps).every((s) => s.status === 'completed')).toBe(true);
    expect(done.durationMs).toBeGreaterThanOrEqual(0);

    // The records: a log line per state change, committed with it, and a metric per attempt.
    const logs = await fx.store.handle.db
      .selectFrom('execution_logs')
      .selectAll()
      .where('run_id', '=', id)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    const messages = logs.map((l) => l.message);
    expect(messages[0]).toMatch(/^run started: wf-\w+@1\.0\.0 \(manual\)$/);
    expect(messages).toEqual(
      expect.arrayContaining(['step a running', 'step a completed', 'step d completed', 'run completed']),
    );
    expect(messages.at(-1)).toBe('run completed');
    const metrics = await fx.store.handle.db
      .selectFrom('metrics')
      .selectAll()
      .where('run_id', '=', id)
      .execute();
    expect(metrics).toHaveLength(4);
    expect(metrics.every((m) => m.success_flag === true || m.success_flag === 1)).toBe(true);
  });

  it('skips a step whose when is false, and what depends only on skipped steps', async () => {
    const workflow = await apply([
      t('a'),
      t('b', { needs: ['a'], when: 'trigger.go = true' }),
      t('c', { needs: ['b'] }),
      t('d', { needs: ['a', 'b'], input: { b: '{{ steps.b.output }}' } }),
    ]);
    const id = await start(workflow, { go: false });
    const claimed = await drain(fx);
    expect(claimed.map((c) => c.stepId)).toEqual(['a', 'd']);
    const done = await run(id);
    expect(done.status).toBe('completed');
    expect(Object.fromEntries(Object.entries(done.steps).map(([k, s]) => [k, s.status]))).toEqual({
      a: 'completed',
      b: 'skipped',
      c: 'skipped',
      d: 'completed',
    });
    expect(done.steps.d!.output).toEqual({ b: null });
  });

  it('fans out one task per item and joins the outputs in item order, whatever order they finish in', async () => {
    const workflow = await apply([
      t('each', { for_each: 'trigger.items', input: { value: '{{ item }}', index: '{{ index }}' } }),
      t('join', {
        needs: ['each'],
        input: { values: '{{ steps.each.output.value }}', count: '{{ $count(steps.each.output) }}' },
      }),
    ]);
    const id = await start(workflow, { items: ['x', 'y', 'z', 'w'] });
    const claimed = await drain(fx, undefined, { order: (tasks) => [...tasks].reverse() });
    expect(
      claimed
        .filter((c) => c.stepId === 'each')
        .map((c) => c.itemIndex)
        .sort(),
    ).toEqual([0, 1, 2, 3]);
    const done = await run(id);
    expect(done.steps.each!.output).toEqual([
      { value: 'x', index: 0 },
      { value: 'y', index: 1 },
      { value: 'z', index: 2 },
      { value: 'w', index: 3 },
    ]);
    expect(done.result).toEqual({ join: { values: ['x', 'y', 'z', 'w'], count: 4 } });
  });

  it('completes a batch of tasks across runs and fan-out items in one transaction', async () => {
    const chain = await apply([t('a', { input: { n: '{{ trigger.n }}' } }), t('b', { needs: ['a'] })]);
    const fan = await apply([
      t('each', { for_each: '[1, 2, 3]', input: { v: '{{ item }}' } }),
      t('join', { needs: ['each'], input: { vs: '{{ steps.each.output.v }}' } }),
    ]);
    const runs = [await start(chain, { n: 1 }), await start(chain, { n: 2 }), await start(fan)];
    const hooks = { onCompletedBatch: fx.engine.onTasksCompleted };
    for (;;) {
      const batch = await claimTasks(fx.store.handle, { workerId: 'w', limit: 100, leaseMs: 60_000 });
      if (batch.length === 0) break;
      // Items out of order, all in one completion batch.
      const ordered = [...batch].reverse();
      const { completed } = await completeTasks(
        fx.store.handle,
        ordered.map((task) => ({ id: task.id, leaseEpoch: task.leaseEpoch, output: task.input })),
        hooks,
      );
      expect(completed).toHaveLength(batch.length);
    }
    const [one, two, three] = await Promise.all(runs.map(run));
    expect(one).toMatchObject({ status: 'completed', result: { b: { step: 'b' } } });
    expect(two!.steps.a!.output).toEqual({ n: 2 });
    expect(three).toMatchObject({ status: 'completed', result: { join: { vs: [1, 2, 3] } } });
    const metrics = await fx.store.handle.db
      .selectFrom('metrics')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(metrics.n)).toBe(2 + 2 + 4);
  });

  it('completes a for_each over an empty list at once', async () => {
    const workflow = await apply([
      t('each', { for_each: 'trigger.items' }),
      t('after', { needs: ['each'], input: { n: '{{ $count(steps.each.output) }}' } }),
    ]);
    const id = await start(workflow, { items: [] });
    await drain(fx);
    expect(await run(id)).toMatchObject({ status: 'completed', result: { after: { n: 0 } } });
  });

  it('retries a failing step by its policy, recording each back-off, then completes', async () => {
    const workflow = await apply([
      t('flaky', {
        retry: {
          max_attempts: 3,
          backoff: 'exponential',
          initial_delay_ms: 1000,
          max_delay_ms: 60000,
          jitter: false,
        },
      }),
    ]);
    const id = await start(workflow);
    const retryTimes: string[] = [];
    let attempts = 0;
    // A clock that moves ten minutes per round, so back-offs pass without waiting.
    let clock = Date.now();
    await drain(
      fx,
      (task) => (++attempts < 3 ? { error: `boom ${task.attempt}` } : { output: { attempt: task.attempt } }),
      {
        now: () => new Date((clock += 600_000)),
      },
    );
    const rows = await fx.store.handle.db.selectFrom('tasks').selectAll().where('run_id', '=', id).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'COMPLETED', retry_count: 2, last_error: 'boom 2' });
    retryTimes.push(rows[0]!.next_retry_at!);
    expect(retryTimes[0]).toMatch(/Z$/);
    expect(await run(id)).toMatchObject({ status: 'completed', result: { flaky: { attempt: 3 } } });
  });

  it('fails the run when a step fails for good, and cancels its other tasks', async () => {
    const workflow = await apply([t('ok'), t('bad'), t('after', { needs: ['ok', 'bad'] })]);
    const id = await start(workflow);
    await drain(
      fx,
      (task) => (task.stepId === 'bad' ? { error: 'no way', retryable: false } : { output: {} }),
      {
        order: (tasks) => [...tasks].sort((a) => (a.stepId === 'bad' ? -1 : 1)),
        limit: 1,
      },
    );
    const done = await run(id);
    expect(done).toMatchObject({ status: 'failed', errorStep: 'bad' });
    expect(done.error).toMatch(/step bad failed: no way/);
    expect(done.steps.after!.status).toBe('pending');
    const statuses = await fx.store.handle.db
      .selectFrom('tasks')
      .select(['step_id', 'status'])
      .where('run_id', '=', id)
      .execute();
    expect(statuses.find((s) => s.step_id === 'bad')!.status).toBe('FAILED');
  });

  it('retries a failed run from its failed step, keeping completed outputs', async () => {
    const workflow = await apply([
      t('first', { input: { n: '{{ trigger.n }}' } }),
      t('each', { needs: ['first'], for_each: '[1, 2, 3]', input: { v: '{{ item }}' } }),
      t('last', {
        needs: ['each'],
        input: { n: '{{ steps.first.output.n }}', vs: '{{ steps.each.output.v }}' },
      }),
    ]);
    const id = await start(workflow, { n: 7 });
    let firstRuns = 0;
    await drain(fx, (task) => {
      if (task.stepId === 'first') firstRuns++;
      return task.stepId === 'each' && task.itemIndex === 1
        ? { error: 'item 1 broke', retryable: false }
        : { output: task.input };
    });
    expect(await run(id)).toMatchObject({ status: 'failed', errorStep: 'each', attempt: 1 });

    const retried = await fx.engine.retryRun(fx.caller, id, { fromFailed: true });
    expect(retried).toMatchObject({ status: 'running', attempt: 2, error: null });
    expect(retried.steps.first).toMatchObject({ status: 'completed', output: { n: 7 } });
    await drain(fx, (task) => {
      if (task.stepId === 'first') firstRuns++;
      return { output: task.input };
    });
    const done = await run(id);
    expect(done).toMatchObject({
      status: 'completed',
      attempt: 2,
      result: { last: { n: 7, vs: [1, 2, 3] } },
    });
    expect(firstRuns).toBe(1);
    const old = await fx.store.handle.db
      .selectFrom('tasks')
      .select(['step_id', 'status'])
      .where('run_id', '=', id)
      .where('step_id', '=', 'each@1')
      .execute();
    expect(old.length).toBeGreaterThan(0);
    await expect(fx.engine.retryRun(fx.caller, id)).rejects.toThrow(/is completed; only a failed/);
  });

  it('cancels a run: its tasks are cancelled and it cannot be cancelled twice', async () => {
    const workflow = await apply([t('a'), t('b', { needs: ['a'] })]);
    const id = await start(workflow);
    const cancelled = await fx.engine.cancelRun(fx.caller, id, 'changed my mind');
    expect(cancelled.status).toBe('cancelled');
    const tasks = await fx.store.handle.db.selectFrom('tasks').selectAll().where('run_id', '=', id).execute();
    expect(tasks.map((x) => [x.status, x.cancellation_reason])).toEqual([['CANCELLED', 'changed my mind']]);
    expect(await drain(fx)).toEqual([]);
    await expect(fx.engine.cancelRun(fx.caller, id)).rejects.toThrow(
      /is cancelled; only a pending or running run/,
    );
    await expect(fx.engine.cancelRun({ userId: 'x', role: 'member' }, id)).rejects.toThrow(/run not found/);
  });

  it('fails the run when for_each is not a list at run time; at its start that is bad input and nothing is stored', async () => {
    const workflow = await apply([
      t('a', { input: { items: '{{ trigger.items }}' } }),
      t('each', { needs: ['a'], for_each: 'steps.a.output.items' }),
    ]);
    const id = await start(workflow, { items: 'nope' });
    await drain(fx);
    expect(await run(id)).toMatchObject({ status: 'failed', errorStep: 'each' });
    expect((await run(id)).error).toMatch(/for_each of step "each" is not a list/);

    const first = await apply([t('each', { for_each: 'trigger.items' })]);
    await expect(start(first, { items: 'nope' })).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      message: 'steps.each.for_each: for_each of step "each" is not a list (got string)',
    });
    const stored = await fx.store.handle.db
      .selectFrom('workflow_runs')
      .select('id')
      .where('workflow_name', '=', first.name)
      .execute();
    expect(stored).toEqual([]);
  });

  it('claims higher-priority steps first across runs', async () => {
    const low = await apply([t('low', { priority: 2 })]);
    const high = await apply([t('high', { priority: 9 })]);
    await start(low);
    await start(high);
    const claimed = await drain(fx, undefined, { limit: 1 });
    expect(claimed.map((c) => c.stepId)).toEqual(['high', 'low']);
  });

  it('pins agent versions when the run starts, and refuses a disabled workflow', async () => {
    const workflow = await apply([t('a')]);
    const id = await start(workflow);
    expect((await run(id)).steps.a!.agent_version).toBe('1.0.0');
    await fx.registry.as(fx.caller).workflows.setState(workflow.name, { enabled: false });
    const disabled = await fx.registry.as(fx.caller).workflows.get(workflow.name);
    await expect(start(disabled)).rejects.toThrow(/is disabled; enable it to start runs/);
  });

  it('hides a run from another owner', async () => {
    const workflow = await apply([t('a')]);
    const id = await start(workflow);
    await expect(fx.engine.getRun({ userId: 'someone-else', role: 'member' }, id)).rejects.toThrow(
      /run not found/,
    );
  });
});
