import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { DatabaseEventSink, DispatchRuntime, type Runtime } from '../../src/runtimes/index.js';
import { createWorker, Worker } from '../../src/worker/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { agentRow, agentWith, trustRecords } from './helpers.js';
import { until } from '../helpers/until.js';

describe.each(DIALECTS)('routed capability steps in a worker on %s', (dialect) => {
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

  async function run(steps: Array<Record<string, unknown>>, input: unknown = {}) {
    const { workflows, agents } = fx.registry.as(fx.caller);
    const { workflow } = await workflows.apply({
      name: `w${Math.random().toString(36).slice(2, 8)}`,
      version: '1.0.0',
      steps,
    });
    const id = await fx.engine.startRun(fx.caller, workflow, agents, { input });
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
      .orderBy('item_index')
      .execute();

  it('runs a capability step end to end on routed probe agents, round robin, with trust and stats', async () => {
    const one = await agentWith(fx, 'probe-one');
    const two = await agentWith(fx, 'probe-two');
    const config = loadConfig({ DATABASE_URL: fx.testDb.url, SWARM_HOME: fx.testDb.dir });
    worker = createWorker(fx.store, fx.engine, config, pino({ level: 'silent' }), { concurrency: 4 });
    worker.start();
    const ended = await run(
      [
        {
          id: 'each',
          capability: 'test:route',
          routing: 'round_robin',
          for_each: 'trigger.items',
          input: { mode: 'echo', value: '{{ item }}' },
        },
      ],
      { items: ['a', 'b', 'c', 'd'] },
    );
    expect(ended).toMatchObject({ status: 'completed', result: { each: ['a', 'b', 'c', 'd'] } });
    const tasks = await tasksOf(ended.id);
    expect(tasks.map((t) => t.routing_strategy)).toEqual(Array(4).fill('round_robin'));
    const assigned = tasks.map((t) => t.assigned_agent_id);
    expect(assigned.filter((a) => a === one)).toHaveLength(2);
    expect(assigned.filter((a) => a === two)).toHaveLength(2);
    for (const id of [one, two]) {
      const row = await agentRow(fx, id);
      expect(row).toMatchObject({
        trust_score: 0.54,
        total_tasks_completed: 2,
        success_rate: 1,
        health_score: 100,
      });
      expect(row.avg_completion_time_seconds).toBeGreaterThan(0);
      expect(row.last_assigned_at).not.toBeNull();
      const records = await trustRecords(fx, id);
      expect(records.map((r) => r.event_type)).toEqual(['task_completed', 'task_completed']);
      expect(records.map((r) => r.task_id).sort()).toEqual(
        tasks
          .filter((t) => t.assigned_agent_id === id)
          .map((t) => t.id)
          .sort(),
      );
    }
  });

  it('fails a capability step with no eligible agent, retrying by its policy, and says why', async () => {
    await agentWith(fx, 'distrusted', { trust: 0.1 });
    const config = loadConfig({ DATABASE_URL: fx.testDb.url, SWARM_HOME: fx.testDb.dir });
    worker = createWorker(fx.store, fx.engine, config, pino({ level: 'silent' }), { concurrency: 2 });
    worker.start();
    const ended = await run([
      {
        id: 'only',
        capability: 'test:route',
        input: { mode: 'echo', value: 1 },
        retry: { max_attempts: 2, backoff: 'fixed', initial_delay_ms: 50 },
      },
    ]);
    expect(ended.status).toBe('failed');
    const [task] = await tasksOf(ended.id);
    expect(task).toMatchObject({ status: 'FAILED', retry_count: 1, assigned_agent_id: null });
    expect(task!.error_message).toBe(
      'no healthy agent offers capability test:route (1 below trust threshold 0.2)',
    );
    expect(await fx.store.handle.db.selectFrom('trust_records').select('id').execute()).toEqual([]);
  });

  it('honours SWARM_TRUST_THRESHOLD from the configuration', async () => {
    const id = await agentWith(fx, 'modest', { trust: 0.1 });
    const config = loadConfig({
      DATABASE_URL: fx.testDb.url,
      SWARM_HOME: fx.testDb.dir,
      SWARM_TRUST_THRESHOLD: '0.05',
    });
    worker = createWorker(fx.store, fx.engine, config, pino({ level: 'silent' }), { concurrency: 2 });
    worker.start();
    const ended = await run([{ id: 'only', capability: 'test:route', input: { mode: 'echo', value: 7 } }]);
    expect(ended).toMatchObject({ status: 'completed', result: { only: 7 } });
    expect((await agentRow(fx, id)).trust_score).toBe(0.12);
  });

  it('lowers trust on a failed attempt and more on a timed-out one, per attempt, with records', async () => {
    const failing = await agentWith(fx, 'failing');
    const slow = await agentWith(fx, 'slow', {}, { capabilities: ['test:slow'] });
    // Stands in for the node runtime: `failing` throws, `slow` waits for its abort.
    const fake: Runtime = {
      async execute(invocation, context) {
        if (invocation.agent.name === 'failing') throw new Error('no luck');
        await new Promise((_, reject) =>
          context.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }),
        );
      },
    };
    worker = new Worker({
      store: fx.store,
      engine: fx.engine,
      runtime: new DispatchRuntime({ node: fake }),
      events: new DatabaseEventSink(fx.store),
      logger: pino({ level: 'silent' }),
      pollMs: 20,
    });
    worker.start();
    const failed = await run([
      {
        id: 'f',
        capability: 'test:route',
        routing: 'fastest',
        retry: { max_attempts: 3, backoff: 'fixed', initial_delay_ms: 20 },
      },
    ]);
    expect(failed.status).toBe('failed');
    let row = await agentRow(fx, failing);
    expect(row).toMatchObject({
      trust_score: 0.35,
      total_tasks_failed: 3,
      total_tasks_completed: 0,
      success_rate: 0,
    });
    expect(row.health_score).toBe(51);
    const records = await trustRecords(fx, failing);
    expect(records.map((r) => [r.event_type, r.trust_score_before, r.trust_score_after])).toEqual([
      ['task_failed', 0.5, 0.45],
      ['task_failed', 0.45, 0.4],
      ['task_failed', 0.4, 0.35],
    ]);
    const timedOut = await run([
      { id: 's', capability: 'test:slow', timeout_seconds: 1, retry: { max_attempts: 1 } },
    ]);
    expect(timedOut.status).toBe('failed');
    const [task] = await tasksOf(timedOut.id);
    expect(task!.status).toBe('TIMEOUT');
    row = await agentRow(fx, slow);
    expect(row).toMatchObject({ trust_score: 0.4, total_tasks_failed: 1 });
    expect((await trustRecords(fx, slow)).map((r) => [r.event_type, r.task_id, r.trust_delta])).toEqual([
      ['task_timeout', task!.id, -0.1],
    ]);
  });
});
