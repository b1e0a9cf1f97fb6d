import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { claimTasks, completeTasks, enqueueTasks } from '../../src/queue/index.js';
import {
  adjustTrust,
  chooseAgent,
  recordOutcome,
  recordOutcomes,
  withAgentOutcomes,
  type AttemptOutcome,
} from '../../src/routing/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { agentRow, agentWith, tasksAssigned, trustRecords } from './helpers.js';

describe.each(DIALECTS)('trust and agent statistics on %s', (dialect) => {
  let fx: EngineFixture;
  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    await fx.close();
  });

  const record = (outcomes: AttemptOutcome[]) =>
    fx.store.handle.dialect.writeTransaction(fx.store.handle.db, (trx) =>
      recordOutcomes(trx, fx.store.handle.dialect, outcomes),
    );

  it('raises trust on success, lowers it on failure and more on timeout, one record per change', async () => {
    const id = await agentWith(fx, 'worker-a');
    const [t1, t2, t3] = await tasksAssigned(fx, id, 3);
    await record([{ taskId: t1!, result: 'completed', durationMs: 1000 }]);
    expect((await agentRow(fx, id)).trust_score).toBe(0.52);
    await record([{ taskId: t2!, result: 'failed' }]);
    expect((await agentRow(fx, id)).trust_score).toBe(0.47);
    await recordOutcome(fx.store.handle, { taskId: t3!, result: 'timeout' });
    expect((await agentRow(fx, id)).trust_score).toBe(0.37);
    const records = await trustRecords(fx, id);
    expect(
      records.map((r) => [r.event_type, r.task_id, r.trust_score_before, r.trust_score_after, r.trust_delta]),
    ).toEqual([
      ['task_completed', t1, 0.5, 0.52, 0.02],
      ['task_failed', t2, 0.52, 0.47, -0.05],
      ['task_timeout', t3, 0.47, 0.37, -0.1],
    ]);
    expect(records.every((r) => r.owner_id === fx.caller.userId)).toBe(true);
    expect(records[2]!.reason).toBe('attempt timed out (-0.1)');
  });

  it('keeps trust in [0, 1]: a change stops at the bound, and none is recorded past it', async () => {
    const high = await agentWith(fx, 'high', { trust: 0.99 });
    const low = await agentWith(fx, 'low', { trust: 0.03 });
    const [h1, h2] = await tasksAssigned(fx, high, 2);
    const [l1, l2] = await tasksAssigned(fx, low, 2);
    await record([
      { taskId: h1!, result: 'completed' },
      { taskId: h2!, result: 'completed' },
      { taskId: l1!, result: 'timeout' },
      { taskId: l2!, result: 'failed' },
    ]);
    expect((await agentRow(fx, high)).trust_score).toBe(1);
    expect((await agentRow(fx, low)).trust_score).toBe(0);
    expect(
      (await trustRecords(fx, high)).map((r) => [r.trust_score_before, r.trust_score_after, r.trust_delta]),
    ).toEqual([[0.99, 1, 0.01]]);
    expect(
      (await trustRecords(fx, low)).map((r) => [r.trust_score_before, r.trust_score_after, r.trust_delta]),
    ).toEqual([[0.03, 0, -0.03]]);
    // The counts still moved.
    expect(await agentRow(fx, high)).toMatchObject({ total_tasks_completed: 2, total_tasks_failed: 0 });
    expect(await agentRow(fx, low)).toMatchObject({ total_tasks_completed: 0, total_tasks_failed: 2 });
  });

  it('keeps completed, failed, success rate, average duration and health current', async () => {
    const id = await agentWith(fx, 'stats', { completed: 2, failed: 0, avg: 4 });
    const tasks = await tasksAssigned(fx, id, 3);
    // Two earlier completions averaged 4 s; 1 s then 7 s make it (4*2 + 1 + 7) / 4 = 4 s.
    await record([
      { taskId: tasks[0]!, result: 'completed', durationMs: 1000 },
      { taskId: tasks[1]!, result: 'completed', durationMs: 7000 },
    ]);
    let row = await agentRow(fx, id);
    expect(row).toMatchObject({ total_tasks_completed: 4, total_tasks_failed: 0, health_score: 100 });
    expect(row.avg_completion_time_seconds).toBeCloseTo(4, 9);
    expect(row.success_rate).toBe(1);
    expect(row.last_task_completed_at).not.toBeNull();
    await record([{ taskId: tasks[2]!, result: 'failed' }]);
    row = await agentRow(fx, id);
    expect(row).toMatchObject({ total_tasks_completed: 4, total_tasks_failed: 1, health_score: 80 });
    expect(row.success_rate).toBeCloseTo(0.8, 9);
    expect(row.avg_completion_time_seconds).toBeCloseTo(4, 9);
  });

  it('health falls to 0 after enough failures, which takes the agent out of routing, and recovers', async () => {
    const id = await agentWith(fx, 'flaky', { trust: 1 });
    const tasks = await tasksAssigned(fx, id, 40);
    const healths: number[] = [];
    for (const taskId of tasks.slice(0, 17)) {
      await record([{ taskId, result: 'failed' }]);
      healths.push((await agentRow(fx, id)).health_score);
    }
    expect(healths.slice(0, 4)).toEqual([80, 64, 51, 40]);
    expect(healths.at(-1)).toBe(0);
    expect(
      await chooseAgent(fx.store.handle, { ownerId: fx.caller.userId, capability: 'test:route' }),
    ).toMatchObject({
      kind: 'none',
      reason: 'no healthy agent offers capability test:route (1 unhealthy)',
    });
    for (const taskId of tasks.slice(17)) await record([{ taskId, result: 'completed' }]);
    expect((await agentRow(fx, id)).health_score).toBe(100);
  });

  it('finds the agent a task names when routing did not assign one, and skips builtins', async () => {
    const id = await agentWith(fx, 'named');
    const [named, builtin] = await enqueueTasks(fx.store.handle.db, fx.store.handle.dialect, [
      { ownerId: fx.caller.userId, agentName: 'named', agentVersion: '1.0.0', taskType: 't', input: {} },
      {
        ownerId: fx.caller.userId,
        agentName: 'builtin/noop',
        agentVersion: '1.0.0',
        taskType: 't',
        input: {},
      },
    ]);
    const changes = await record([
      { taskId: named!, result: 'completed', durationMs: 2500 },
      { taskId: builtin!, result: 'failed' },
    ]);
    expect(changes).toHaveLength(1);
    expect(await agentRow(fx, id)).toMatchObject({
      trust_score: 0.52,
      total_tasks_completed: 1,
      avg_completion_time_seconds: 2.5,
    });
    expect(await fx.store.handle.db.selectFrom('trust_records').select('id').execute()).toHaveLength(1);
  });

  it('records completions in the completing transaction, in batch order (withAgentOutcomes)', async () => {
    const id = await agentWith(fx, 'batch');
    const ids = await enqueueTasks(
      fx.store.handle.db,
      fx.store.handle.dialect,
      [1, 2, 3].map(() => ({
        ownerId: fx.caller.userId,
        agentName: 'batch',
        agentVersion: '1.0.0',
        taskType: 't',
        input: {},
      })),
    );
    const claimed = await claimTasks(fx.store.handle, { workerId: 'w', limit: 3, leaseMs: 60_000 });
    expect(claimed).toHaveLength(3);
    const hook = withAgentOutcomes(fx.store.handle.dialect, async () => {});
    const result = await completeTasks(
      fx.store.handle,
      claimed.map((t, i) => ({ id: t.id, leaseEpoch: t.leaseEpoch, output: i, durationMs: 1000 * (i + 1) })),
      { onCompletedBatch: hook },
    );
    expect(result.completed.sort()).toEqual([...ids].sort());
    const row = await agentRow(fx, id);
    expect(row).toMatchObject({ trust_score: 0.56, total_tasks_completed: 3, success_rate: 1 });
    expect(row.avg_completion_time_seconds).toBeCloseTo(2, 9);
    const records = await trustRecords(fx, id);
    expect(records.map((r) => [r.task_id, r.trust_score_before, r.trust_score_after])).toEqual(
      claimed.map((t, i) => [t.id, [0.5, 0.52, 0.54][i], [0.52, 0.54, 0.56][i]]),
    );
    // A hook that throws rolls the trust changes back with the completion, and that task alone is
    // recorded as failed (a poison task never sinks its batch).
    const [again] = await enqueueTasks(fx.store.handle.db, fx.store.handle.dialect, [
      { ownerId: fx.caller.userId, agentName: 'batch', agentVersion: '1.0.0', taskType: 't', input: {} },
    ]);
    const [next] = await claimTasks(fx.store.handle, { workerId: 'w', limit: 1, leaseMs: 60_000 });
    expect(next!.id).toBe(again);
    const failing = withAgentOutcomes(fx.store.handle.dialect, async () => {
      throw new Error('engine hook failed');
    });
    const outcome = await completeTasks(
      fx.store.handle,
      [{ id: next!.id, leaseEpoch: next!.leaseEpoch, output: 1 }],
      { onCompletedBatch: failing },
    );
    expect(outcome.completed).toEqual([]);
    expect(outcome.failed).toEqual([
      expect.objectContaining({ id: next!.id, error: expect.stringContaining('engine hook failed') }),
    ]);
    expect((await agentRow(fx, id)).trust_score).toBe(0.56);
    expect(await trustRecords(fx, id)).toHaveLength(3);
  });

  it('finds the agents of a completed batch from the completion itself, as it would from the tasks', async () => {
    const a = await agentWith(fx, 'ref-a');
    const b = await agentWith(fx, 'ref-b');
    const { db, dialect } = fx.store.handle;
    const task = (agentName: string) => ({
      ownerId: fx.caller.userId,
      agentName,
      agentVersion: '1.0.0',
      taskType: 't',
      input: {},
    });
    const ids = await enqueueTasks(db, dialect, [
      task('ref-a'),
      task('ref-b'),
      task('builtin/noop'),
      task('ref-a'),
      // Names no registered version: no agent to bring up to date.
      { ...task('ref-b'), agentVersion: '9.9.9' },
    ]);
    // Routing assigned the fourth to b although it names a: the assigned agent wins.
    await db.updateTable('tasks').set({ assigned_agent_id: b }).where('id', '=', ids[3]!).execute();
    const claimed = await claimTasks(fx.store.handle, { workerId: 'w', limit: 5, leaseMs: 60_000 });
    expect(claimed).toHaveLength(5);
    const result = await completeTasks(
      fx.store.handle,
      claimed.map((t) => ({ id: t.id, leaseEpoch: t.leaseEpoch, output: null, durationMs: 1000 })),
      { onCompletedBatch: withAgentOutcomes(dialect, async () => {}) },
    );
    expect(result.completed).toHaveLength(5);
    expect((await agentRow(fx, a)).total_tasks_completed).toBe(1);
    expect((await agentRow(fx, b)).total_tasks_completed).toBe(2);
    expect((await trustRecords(fx, a)).map((r) => r.task_id)).toEqual([ids[0]]);
    expect((await trustRecords(fx, b)).map((r) => r.task_id).sort()).toEqual([ids[1], ids[3]].sort());
  });

  it('adjusts trust by hand with a manual_adjustment record', async () => {
    const id = await agentWith(fx, 'manual', { trust: 0.1 });
    expect(
      await adjustTrust(fx.store.handle, {
        ownerId: fx.caller.userId,
        agentId: id,
        score: 0.6,
        reason: 'reviewed',
      }),
    ).toEqual({
      before: 0.1,
      after: 0.6,
      delta: 0.5,
    });
    expect(
      await adjustTrust(fx.store.handle, {
        ownerId: fx.caller.userId,
        agentId: id,
        score: 0.6,
        reason: 'again',
      }),
    ).toBeNull();
    const [only, ...rest] = await trustRecords(fx, id);
    expect(rest).toEqual([]);
    expect(only).toMatchObject({ event_type: 'manual_adjustment', task_id: null, reason: 'reviewed' });
    await expect(
      adjustTrust(fx.store.handle, { ownerId: fx.caller.userId, agentId: id, score: 1.5, reason: 'x' }),
    ).rejects.toThrow(/score/);
  });
});

describe('SWARM_TRUST_THRESHOLD', () => {
  it('defaults to 0.2 and takes a number from 0 to 1', () => {
    expect(loadConfig({}).trustThreshold).toBe(0.2);
    expect(loadConfig({ SWARM_TRUST_THRESHOLD: '0.35' }).trustThreshold).toBe(0.35);
    expect(loadConfig({ SWARM_TRUST_THRESHOLD: '0' }).trustThreshold).toBe(0);
    expect(loadConfig({ SWARM_TRUST_THRESHOLD: '1' }).trustThreshold).toBe(1);
  });

  it.each(['abc', '1.5', '-0.1', '0x1', 'NaN', '0.2.1'])('refuses %s, naming the variable', (value) => {
    expect(() => loadConfig({ SWARM_TRUST_THRESHOLD: value })).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(/SWARM_TRUST_THRESHOLD.*number from 0 to 1/),
      }),
    );
  });
});
