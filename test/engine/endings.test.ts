import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimTasks, completeTasks } from '../../src/queue/index.js';
import type { WorkflowView } from '../../src/registry/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { drain, engineFixture, type EngineFixture } from './helpers.js';

type Step = Record<string, unknown>;
const t = (id: string, more: Step = {}): Step => ({
  id,
  agent: 'builtin/transform',
  input: { step: id },
  ...more,
});

describe.each(DIALECTS)('how runs end, on %s', (dialect) => {
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
  const start = (workflow: WorkflowView, input: unknown = {}) =>
    fx.engine.startRun(fx.caller, workflow, fx.registry.as(fx.caller).agents, { input });
  const run = (id: string) => fx.engine.getRun(fx.caller, id);
  const tasksOf = (id: string) =>
    fx.store.handle.db
      .selectFrom('tasks')
      .select(['id', 'step_id', 'status', 'input_data', 'cancellation_reason'])
      .where('run_id', '=', id)
      .orderBy('id')
      .execute();

  it('times a run out at its deadline: running steps fail, tasks are cancelled, a late result is refused', async () => {
    const workflow = await apply([t('a'), t('b', { needs: ['a'] })], { timeout_seconds: 60 });
    const id = await start(workflow);
    const started = await run(id);
    expect(Date.parse(started.timeoutAt!) - Date.parse(started.startedAt!)).toBe(60_000);

    const [claimed] = await claimTasks(fx.store.handle, { workerId: 'w', limit: 10, leaseMs: 60_000 });
    // Not yet due: nothing happens.
    expect(await fx.engine.timeOutRuns(new Date(Date.now() + 30_000))).toBe(0);
    expect((await run(id)).status).toBe('running');

    expect(await fx.engine.timeOutRuns(new Date(Date.now() + 61_000))).toBe(1);
    const ended = await run(id);
    expect(ended).toMatchObject({
      status: 'timeout',
      error: 'run timed out after 60 s',
      errorStep: 'a',
    });
    expect(ended.steps.a).toMatchObject({ status: 'failed', error: 'run timed out' });
    expect(ended.steps.b!.status).toBe('pending');
    expect(ended.durationMs).not.toBeNull();
    expect((await tasksOf(id)).map((x) => [x.step_id, x.status, x.cancellation_reason])).toEqual([
      ['a', 'CANCELLED', 'run timed out after 60 s'],
    ]);
    const late = await completeTasks(
      fx.store.handle,
      [{ id: claimed!.id, leaseEpoch: claimed!.leaseEpoch, output: {} }],
      { onCompleted: fx.engine.onTaskCompleted },
    );
    expect(late.rejected).toEqual([claimed!.id]);
    // Swept once: a second sweep finds nothing.
    expect(await fx.engine.timeOutRuns(new Date(Date.now() + 120_000))).toBe(0);

    // A timed-out run can be retried; its deadline starts over.
    const retried = await fx.engine.retryRun(fx.caller, id, { fromFailed: true });
    expect(retried).toMatchObject({ status: 'running', attempt: 2 });
    expect(Date.parse(retried.timeoutAt!)).toBeGreaterThan(Date.parse(started.timeoutAt!));
    await drain(fx);
    expect((await run(id)).status).toBe('completed');
  });

  it('leaves runs without a deadline alone', async () => {
    const workflow = await apply([t('a')]);
    const id = await start(workflow);
    expect((await run(id)).timeoutAt).toBeNull();
    expect(await fx.engine.timeOutRuns(new Date(Date.now() + 365 * 86_400_000))).toBe(0);
    expect((await run(id)).status).toBe('running');
  });

  it('runs on_success handlers when the run completes, with the run and its steps as context', async () => {
    const workflow = await apply([t('a', { input: { n: '{{ trigger.n }}' } })], {
      on_success: {
        agent: 'builtin/transform',
        input: { status: '{{ run.status }}', n: '{{ steps.a.output.n }}' },
      },
      on_error: [{ agent: 'builtin/transform', input: { error: '{{ run.error }}' } }],
    });
    const id = await start(workflow, { n: 3 });
    expect((await run(id)).handlers.map((h) => [h.kind, h.status, h.agent, h.version])).toEqual([
      ['on_error', 'waiting', 'builtin/transform', '1.0.0'],
      ['on_success', 'waiting', 'builtin/transform', '1.0.0'],
    ]);
    const claimed = await drain(fx);
    expect(claimed.map((c) => c.stepId)).toEqual(['a', 'on_success[0]']);
    expect(claimed[1]!.input).toEqual({ status: 'completed', n: 3 });
    const done = await run(id);
    expect(done.status).toBe('completed');
    expect(done.handlers.map((h) => [h.kind, h.status])).toEqual([
      ['on_error', 'skipped'],
      ['on_success', 'completed'],
    ]);
    expect(done.handlers[1]!.output).toEqual({ status: 'completed', n: 3 });
  });

  it('runs on_error handlers when a step fails or the run times out; a failing handler leaves the run as it ended', async () => {
    const workflow = await apply([t('a'), t('b', { needs: ['a'] })], {
      on_error: [
        { agent: 'builtin/transform', input: { error: '{{ run.error }}', step: '{{ run.error_step }}' } },
        { agent: 'builtin/transform', input: { x: 1 } },
      ],
      timeout_seconds: 3600,
    });
    const failed = await start(workflow);
    const claimed = await drain(fx, (task) =>
      task.stepId === 'b'
        ? { error: 'b broke', retryable: false }
        : task.stepId === 'on_error[1]'
          ? { error: 'handler broke', retryable: false }
          : { output: task.input },
    );
    expect(claimed.map((c) => c.stepId)).toEqual(['a', 'b', 'on_error[0]', 'on_error[1]']);
    expect(claimed[2]!.input).toEqual({ error: 'step b failed: b broke', step: 'b' });
    const ended = await run(failed);
    expect(ended).toMatchObject({ status: 'failed', errorStep: 'b' });
    expect(ended.handlers.map((h) => [h.status, h.error ?? null])).toEqual([
      ['completed', null],
      ['failed', 'handler broke'],
    ]);

    const timedOut = await start(workflow);
    await fx.engine.timeOutRuns(new Date(Date.now() + 3_601_000));
    const handlerTasks = (await tasksOf(timedOut)).filter((x) => x.step_id?.startsWith('on_'));
    expect(handlerTasks.map((x) => [x.step_id, x.status])).toEqual([
      ['on_error[0]', 'PENDING'],
      ['on_error[1]', 'PENDING'],
    ]);
    expect(JSON.parse(handlerTasks[0]!.input_data)).toEqual({
      error: 'run timed out after 3600 s',
      step: 'a',
    });
  });

  it('does not run handlers for a cancelled run', async () => {
    const workflow = await apply([t('a')], { on_error: { agent: 'builtin/transform', input: {} } });
    const id = await start(workflow);
    await fx.engine.cancelRun(fx.caller, id, 'no');
    expect((await run(id)).handlers.map((h) => h.status)).toEqual(['skipped']);
    expect(await drain(fx)).toEqual([]);
  });

  it('retries a run from the start unless asked to resume from the failed step', async () => {
    const workflow = await apply([t('a'), t('b', { needs: ['a'] })], {
      on_error: { agent: 'builtin/transform', input: {} },
    });
    const id = await start(workflow);
    let attempt = 1;
    await drain(fx, (task) =>
      task.stepId === 'b' && attempt === 1 ? { error: 'no', retryable: false } : { output: task.input },
    );
    attempt = 2;
    const retried = await fx.engine.retryRun(fx.caller, id);
    expect(retried.steps.a!.status).toBe('running');
    expect(retried.handlers.map((h) => h.status)).toEqual(['waiting']);
    const claimed = await drain(fx);
    expect(claimed.map((c) => c.stepId)).toEqual(['a', 'b']);
    const done = await run(id);
    expect(done).toMatchObject({ status: 'completed', attempt: 2 });
    expect(done.handlers.map((h) => h.status)).toEqual(['skipped']);
    expect((await tasksOf(id)).map((x) => x.step_id).sort()).toEqual([
      'a',
      'a@1',
      'b',
      'b@1',
      'on_error[0]@1',
    ]);
  });

  it('refuses a workflow timeout out of range, naming the field', async () => {
    await expect(apply([t('a')], { timeout_seconds: 0 })).rejects.toMatchObject({
      issues: [expect.objectContaining({ field: 'timeout_seconds' })],
    });
  });
});
