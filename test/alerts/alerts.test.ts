import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  completionAlerts,
  DEFAULT_ALERT_SETTINGS,
  evaluatePerformance,
  evaluateTaskOutcomes,
  raise,
  type AlertSettings,
} from '../../src/alerts/index.js';
import { loadConfig } from '../../src/config/index.js';
import {
  claimTasks,
  completeTasks,
  enqueueTasks,
  failTask,
  reclaimExpiredLeases,
} from '../../src/queue/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import { newId, resolveAlertByHand, Store, toDbTimestamp } from '../../src/storage/index.js';
import { EventDispatcher, syncTriggers } from '../../src/triggers/index.js';
import { drain, engineFixture, type EngineFixture } from '../engine/helpers.js';
import { DIALECTS } from '../helpers/databases.js';
import { agentWith } from '../routing/helpers.js';

const SETTINGS: AlertSettings = { ...DEFAULT_ALERT_SETTINGS, intervalMs: 0, performanceIntervalMs: 0 };
const MINUTE = 60_000;

type Outcome = 'ok' | 'fail' | 'timeout' | 'budget' | 'lease';

describe.each(DIALECTS)('alerts Swarm raises on %s', (dialect) => {
  let fx: EngineFixture;
  // The tests' clock: every outcome and evaluation happens at a moment it hands out, in order.
  let clock = Date.now() - 60 * MINUTE;
  const tick = (ms = 1000) => new Date((clock += ms));

  beforeAll(async () => {
    fx = await engineFixture(dialect);
    // The first pass sets the watermark.
    await evaluate();
  });
  afterAll(async () => {
    await fx.close();
  });

  const evaluate = () => evaluateTaskOutcomes(fx.store, SETTINGS, 'test', tick(3000));
  const alerts = (cause?: string) => {
    let query = fx.store.handle.db.selectFrom('alerts').selectAll().where('owner_id', '=', fx.caller.userId);
    if (cause !== undefined) query = query.where('cause', '=', cause);
    return query.orderBy('id').execute();
  };
  const events = (type: string) =>
    fx.store.handle.db.selectFrom('events').selectAll().where('type', '=', type).orderBy('id').execute();

  /** One task of `agent@1.0.0` through the real queue, ending as told. */
  async function runTask(agent: string, outcome: Outcome): Promise<string> {
    const at = tick();
    const { db, dialect: d } = fx.store.handle;
    const [id] = await enqueueTasks(db, d, [
      {
        ownerId: fx.caller.userId,
        taskType: 'test',
        input: {},
        agentName: agent,
        agentVersion: '1.0.0',
        maxRetries: 0,
        runAt: new Date(at.getTime() - 500),
      },
    ]);
    const [task] = await claimTasks(fx.store.handle, {
      workerId: 'w',
      limit: 1,
      leaseMs: outcome === 'lease' ? 100 : 60_000,
      now: at,
    });
    expect(task!.id).toBe(id);
    const lease = { id: task!.id, leaseEpoch: task!.leaseEpoch };
    if (outcome === 'ok') await completeTasks(fx.store.handle, [{ ...lease, output: {} }], {}, at);
    else if (outcome === 'lease')
      await reclaimExpiredLeases(fx.store.handle, new Date(at.getTime() + 500), {}, 1);
    else
      await failTask(
        fx.store.handle,
        {
          ...lease,
          error: outcome === 'budget' ? "budget exceeded: the owner's daily budget is 10 tokens" : 'boom',
          retryable: false,
          ...(outcome === 'budget' ? { code: 'BUDGET_EXCEEDED' } : {}),
          ...(outcome === 'timeout' ? { timedOut: true } : {}),
        },
        {},
        { now: at },
      );
    return id!;
  }

  it('raises ONE agent_failure after 5 failures in a row, counts more, and resolves it on a success', async () => {
    await agentWith(fx, 'flaky');
    for (let i = 0; i < 4; i++) await runTask('flaky', 'fail');
    await evaluate();
    expect(await alerts('agent_failure:flaky@1.0.0')).toEqual([]);

    await runTask('flaky', 'fail');
    await evaluate();
    // Looked at again (the late-commit look-back): still one alert, the same count.
    await evaluate();
    let [alert, ...others] = await alerts('agent_failure:flaky@1.0.0');
    expect(others).toEqual([]);
    expect(alert).toMatchObject({ alert_type: 'agent_failure', severity: 'critical', count: 5 });
    expect(Boolean(alert!.resolved)).toBe(false);
    const raised = (await events('alert.raised')).filter((e) => e.payload.includes(alert!.id));
    expect(raised).toHaveLength(1);
    expect(JSON.parse(raised[0]!.payload)).toMatchObject({
      alert_id: alert!.id,
      type: 'agent_failure',
      severity: 'critical',
      cause: 'agent_failure:flaky@1.0.0',
      count: 5,
    });

    await runTask('flaky', 'fail');
    await evaluate();
    [alert, ...others] = await alerts('agent_failure:flaky@1.0.0');
    expect(others).toEqual([]);
    expect(alert!.count).toBe(6);
    expect((await events('alert.raised')).filter((e) => e.payload.includes(alert!.id))).toHaveLength(1);

    await runTask('flaky', 'ok');
    await evaluate();
    [alert] = await alerts('agent_failure:flaky@1.0.0');
    expect(Boolean(alert!.resolved)).toBe(true);
    expect(alert!.resolved_by).toBe('auto');
    expect((await events('alert.resolved')).filter((e) => e.payload.includes(alert!.id))).toHaveLength(1);

    // Failing again after that opens a new alert: the resolved one stays as it was.
    for (let i = 0; i < 5; i++) await runTask('flaky', 'fail');
    await evaluate();
    const all = await alerts('agent_failure:flaky@1.0.0');
    expect(all.map((a) => [Boolean(a.resolved), a.count])).toEqual([
      [true, 6],
      [false, 5],
    ]);
  });

  it('keeps an alert resolved by hand resolved until the agent fails again', async () => {
    await agentWith(fx, 'nagging');
    for (let i = 0; i < 5; i++) await runTask('nagging', 'fail');
    await evaluate();
    const [open] = await alerts('agent_failure:nagging@1.0.0');
    expect(open).toMatchObject({ count: 5 });
    const { db } = fx.store.handle;
    expect((await resolveAlertByHand(db, fx.caller, open!.id, tick()))?.changed).toBe(true);

    // The next passes look back over the same five failures (late commits): nothing reopens.
    await evaluate();
    await evaluate();
    expect((await alerts('agent_failure:nagging@1.0.0')).map((a) => Boolean(a.resolved))).toEqual([true]);

    // A sixth failure is news: a new alert, counting the whole streak.
    await runTask('nagging', 'fail');
    await evaluate();
    const all = await alerts('agent_failure:nagging@1.0.0');
    expect(all.map((a) => [Boolean(a.resolved), a.count])).toEqual([
      [true, 5],
      [false, 6],
    ]);
  });

  it('raises task_timeout per agent, resolved by its next success', async () => {
    await agentWith(fx, 'slowpoke');
    await runTask('slowpoke', 'timeout');
    await evaluate();
    await runTask('slowpoke', 'timeout');
    await evaluate();
    const [open, ...others] = await alerts('task_timeout:slowpoke@1.0.0');
    expect(others).toEqual([]);
    expect(open).toMatchObject({ alert_type: 'task_timeout', severity: 'warning', count: 2 });
    await runTask('slowpoke', 'ok');
    await evaluate();
    const [resolved] = await alerts('task_timeout:slowpoke@1.0.0');
    expect(Boolean(resolved!.resolved)).toBe(true);
  });

  it('raises system_error for a task that kept losing its worker (crash loop)', async () => {
    await agentWith(fx, 'crasher');
    await runTask('crasher', 'lease');
    await evaluate();
    const [alert] = await alerts('system_error:crash_loop:crasher@1.0.0');
    expect(alert).toMatchObject({ alert_type: 'system_error', severity: 'critical', count: 1 });
    // A lease loss is not a timeout of the agent's own making.
    expect(await alerts('task_timeout:crasher@1.0.0')).toEqual([]);
  });

  it('raises budget_exceeded once per task or run a budget stopped, not agent_failure', async () => {
    await agentWith(fx, 'spender');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await runTask('spender', 'budget'));
    await evaluate();
    await evaluate();
    const budget = (await alerts()).filter((a) => a.alert_type === 'budget_exceeded');
    expect(budget.map((a) => a.cause).sort()).toEqual(ids.map((id) => `budget_exceeded:task:${id}`).sort());
    expect(budget.every((a) => a.count === 1 && a.message!.includes('daily budget'))).toBe(true);
    expect(await alerts('agent_failure:spender@1.0.0')).toEqual([]);
  });

  it('raises performance_degradation against a seeded baseline, and resolves it when back under', async () => {
    const agentId = await agentWith(fx, 'sluggish');
    const now = tick();
    const seed = async (count: number, durationMs: number, endedAgoMs: number) => {
      await fx.store.handle.db
        .insertInto('tasks')
        .values(
          Array.from({ length: count }, (_, i) => {
            const at = toDbTimestamp(new Date(now.getTime() - endedAgoMs + i));
            return {
              id: newId(),
              owner_id: fx.caller.userId,
              agent_name: 'sluggish',
              agent_version: '1.0.0',
              status: 'COMPLETED',
              created_at: at,
              completed_at: at,
              duration_ms: durationMs + (i % 5),
            };
          }),
        )
        .execute();
    };
    await seed(40, 100, 2 * 86_400_000);
    await seed(25, 450, 10 * MINUTE);
    // Too few samples in the window: no comparison.
    expect(
      await evaluatePerformance(fx.store, { ...SETTINGS, slowMinSamples: 30 }, 'test', now),
    ).toMatchObject({
      degraded: 0,
    });
    expect(await evaluatePerformance(fx.store, SETTINGS, 'test', tick())).toMatchObject({ degraded: 1 });
    let [alert] = await alerts('performance_degradation:sluggish@1.0.0');
    expect(alert).toMatchObject({ alert_type: 'performance_degradation', related_agent_id: agentId });
    expect(JSON.parse(alert!.metadata)).toMatchObject({ baseline_p95_ms: 104, recent_p95_ms: 454 });
    // Not slower by the configured factor: no alert, and the open one resolves.
    expect(await evaluatePerformance(fx.store, { ...SETTINGS, slowFactor: 5 }, 'test', tick())).toMatchObject(
      {
        degraded: 0,
        resolved: 1,
      },
    );
    [alert] = await alerts('performance_degradation:sluggish@1.0.0');
    expect(Boolean(alert!.resolved)).toBe(true);
  });

  it('raises task_completion for a workflow that opts in (one per run), and alert.raised starts an event-triggered workflow', async () => {
    const { workflows, agents } = fx.registry.as(fx.caller);
    const step = [{ id: 'a', agent: 'builtin/transform', input: { n: 1 } }];
    const loud = (
      await workflows.apply({
        name: 'loud',
        version: '1.0.0',
        steps: step,
        alerts: { on_completion: 'warning' },
      })
    ).workflow;
    const quiet = (await workflows.apply({ name: 'quiet', version: '1.0.0', steps: step })).workflow;
    const pager = (
      await workflows.apply({
        name: 'pager',
        version: '1.0.0',
        trigger: { type: 'event', source: 'swarm', event_type: 'alert.raised' },
        steps: [{ id: 'page', agent: 'builtin/transform', input: { cause: '{{ trigger.payload.cause }}' } }],
      })
    ).workflow;
    const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));
    await syncTriggers(fx.store, keyring, fx.caller, [pager]);
    const loudRun = await fx.engine.startRun(fx.caller, loud, agents, {});
    await fx.engine.startRun(fx.caller, quiet, agents, {});
    await drain(fx);
    const dispatcher = new EventDispatcher(fx.store, fx.engine, [completionAlerts]);
    await dispatcher.dispatchPending();
    const completion = (await alerts()).filter((a) => a.alert_type === 'task_completion');
    expect(completion).toHaveLength(1);
    expect(completion[0]).toMatchObject({
      severity: 'warning',
      cause: `task_completion:${loudRun}`,
      related_run_id: loudRun,
    });
    // Its alert.raised event is dispatched in turn, to the workflow subscribed to it.
    await dispatcher.dispatchPending();
    const paged = await fx.store.handle.db
      .selectFrom('workflow_runs')
      .select(['id', 'trigger_data'])
      .where('workflow_name', '=', 'pager')
      .execute();
    // (The earlier tests' alerts page too.)
    expect(paged.filter((r) => r.trigger_data!.includes(`task_completion:${loudRun}`))).toHaveLength(1);
  });

  it('keeps one open alert per cause under concurrent raises from two stores', async () => {
    // Two connections on PostgreSQL (two processes); better-sqlite3 waits on a lock synchronously,
    // so a second connection in this one process would block the first: one store there.
    const other = dialect === 'postgres' ? await Store.open(fx.testDb.url) : fx.store;
    try {
      const cause = `system_error:test:${newId()}`;
      const raiseOn = (store: Store) =>
        store.handle.dialect.writeTransaction(store.handle.db, (trx) =>
          raise(trx, store.handle.dialect, {
            ownerId: fx.caller.userId,
            type: 'system_error',
            severity: 'warning',
            cause,
            title: 'concurrent',
          }),
        );
      const outcomes = await Promise.all(
        Array.from({ length: 16 }, (_, i) => raiseOn(i % 2 === 0 ? fx.store : other)),
      );
      expect(outcomes.filter((o) => o?.opened)).toHaveLength(1);
      const rows = await alerts(cause);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.count).toBe(16);
      expect((await events('alert.raised')).filter((e) => e.payload.includes(cause))).toHaveLength(1);

      // Two processes evaluating at once: one holds the pass, the other skips it.
      const at = tick();
      const passes = await Promise.all([
        evaluateTaskOutcomes(fx.store, SETTINGS, 'a', at),
        evaluateTaskOutcomes(other, SETTINGS, 'b', at),
      ]);
      expect(passes.filter((p) => p === null)).toHaveLength(1);
    } finally {
      if (other !== fx.store) await other.close();
    }
  });
});
