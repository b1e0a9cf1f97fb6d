import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimTasks, enqueueTasks } from '../../src/queue/index.js';
import { chooseAgent, type RouteRequest, type RoutingStrategy } from '../../src/routing/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { agentRow, agentWith, tasksAssigned } from './helpers.js';

describe.each(DIALECTS)('capability routing on %s', (dialect) => {
  let fx: EngineFixture;
  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    await fx.close();
  });

  const route = (request: Partial<RouteRequest> = {}) =>
    chooseAgent(fx.store.handle, { ownerId: fx.caller.userId, capability: 'test:route', ...request });

  async function chosenName(strategy: RoutingStrategy, random?: () => number): Promise<string> {
    const result = await route({ strategy, ...(random === undefined ? {} : { random }) });
    if (result.kind !== 'agent') throw new Error(`nothing chosen: ${JSON.stringify(result)}`);
    return result.agent.name;
  }

  /**
   * The fixed set: trust, average duration, last assignment and running tasks.
   *   alpha  0.9  5 s   10:03  1 running
   *   bravo  0.5  2 s   10:01  2 running
   *   charlie 0.3 8 s   10:04  1 running (and 3 finished, which do not count)
   *   delta  0.7  —     10:02  0 running
   */
  async function fixedSet() {
    const ids = {
      alpha: await agentWith(fx, 'alpha', { trust: 0.9, avg: 5, lastAssignedAt: '2026-01-01T10:03:00.000Z' }),
      bravo: await agentWith(fx, 'bravo', { trust: 0.5, avg: 2, lastAssignedAt: '2026-01-01T10:01:00.000Z' }),
      charlie: await agentWith(fx, 'charlie', {
        trust: 0.3,
        avg: 8,
        lastAssignedAt: '2026-01-01T10:04:00.000Z',
      }),
      delta: await agentWith(fx, 'delta', {
        trust: 0.7,
        avg: null,
        lastAssignedAt: '2026-01-01T10:02:00.000Z',
      }),
    };
    await tasksAssigned(fx, ids.alpha, 1);
    await tasksAssigned(fx, ids.bravo, 2);
    await tasksAssigned(fx, ids.charlie, 1);
    await tasksAssigned(fx, ids.charlie, 3, 'COMPLETED');
    return ids;
  }

  it('round_robin picks the least recently assigned agent and stamps it', async () => {
    const ids = await fixedSet();
    const before = Date.now();
    expect(await chosenName('round_robin')).toBe('bravo');
    const bravo = await agentRow(fx, ids.bravo);
    expect(Date.parse(bravo.last_assigned_at!)).toBeGreaterThanOrEqual(before - 1000);
    // bravo is now the most recent: the next ones go to delta, alpha, charlie, then bravo again.
    const order = [];
    for (let i = 0; i < 4; i++) order.push(await chosenName('round_robin'));
    expect(order).toEqual(['delta', 'alpha', 'charlie', 'bravo']);
  });

  it('round_robin gives never-assigned agents work first, by name', async () => {
    await agentWith(fx, 'zulu', { lastAssignedAt: '2026-01-01T10:00:00.000Z' });
    await agentWith(fx, 'mike');
    await agentWith(fx, 'kilo');
    expect(await chosenName('round_robin')).toBe('kilo');
    expect(await chosenName('round_robin')).toBe('mike');
    expect(await chosenName('round_robin')).toBe('zulu');
  });

  it('least_loaded picks the agent with the fewest running tasks', async () => {
    const ids = await fixedSet();
    expect(await chosenName('least_loaded')).toBe('delta');
    // delta busy with 3: alpha and charlie have 1 each; alpha was assigned less recently.
    await tasksAssigned(fx, ids.delta, 3);
    expect(await chosenName('least_loaded')).toBe('alpha');
    // ASSIGNED counts as load too; finished tasks never do.
    await tasksAssigned(fx, ids.alpha, 1, 'ASSIGNED');
    expect(await chosenName('least_loaded')).toBe('charlie');
  });

  it('fastest picks an agent with no average first, then the lowest average', async () => {
    const ids = await fixedSet();
    expect(await chosenName('fastest')).toBe('delta');
    await fx.store.handle.db
      .updateTable('agents')
      .set({ avg_completion_time_seconds: 10 })
      .where('id', '=', ids.delta)
      .execute();
    expect(await chosenName('fastest')).toBe('bravo');
  });

  it('trust_weighted picks at random in proportion to trust (alpha .9, bravo .5, charlie .3, delta .7)', async () => {
    await fixedSet();
    // Laid out by name over a total of 2.4: alpha [0, .9), bravo [.9, 1.4), charlie [1.4, 1.7), delta [1.7, 2.4).
    expect(await chosenName('trust_weighted', () => 0)).toBe('alpha');
    expect(await chosenName('trust_weighted', () => 0.37)).toBe('alpha');
    expect(await chosenName('trust_weighted', () => 0.4)).toBe('bravo');
    expect(await chosenName('trust_weighted', () => 0.6)).toBe('charlie');
    expect(await chosenName('trust_weighted', () => 0.75)).toBe('delta');
    expect(await chosenName('trust_weighted', () => 0.999)).toBe('delta');
    // Over many draws, alpha wins about .9 / 2.4 of them.
    let seed = 42;
    const lcg = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const wins: Record<string, number> = {};
    for (let i = 0; i < 400; i++) {
      const name = await chosenName('trust_weighted', lcg);
      wins[name] = (wins[name] ?? 0) + 1;
    }
    expect(wins.alpha! / 400).toBeGreaterThan(0.28);
    expect(wins.alpha! / 400).toBeLessThan(0.47);
    expect(wins.charlie! / 400).toBeLessThan(wins.alpha! / 400);
  });

  it('random picks uniformly over the agents by name', async () => {
    await fixedSet();
    expect(await chosenName('random', () => 0)).toBe('alpha');
    expect(await chosenName('random', () => 0.3)).toBe('bravo');
    expect(await chosenName('random', () => 0.5)).toBe('charlie');
    expect(await chosenName('random', () => 0.99)).toBe('delta');
  });

  it('gives no work to agents under the trust threshold, and says how many there were', async () => {
    await agentWith(fx, 'low', { trust: 0.1 });
    await agentWith(fx, 'lower', { trust: 0.19 });
    await agentWith(fx, 'ok', { trust: 0.2, lastAssignedAt: '2026-01-01T10:00:00.000Z' });
    // Never assigned, but untrusted: round_robin still picks the trusted one.
    expect(await chosenName('round_robin')).toBe('ok');
    await fx.store.handle.db
      .updateTable('agents')
      .set({ trust_score: 0.15 })
      .where('name', '=', 'ok')
      .execute();
    const none = await route({ strategy: 'round_robin' });
    expect(none).toMatchObject({
      kind: 'none',
      reason: 'no healthy agent offers capability test:route (3 below trust threshold 0.2)',
      excluded: { lowTrust: 3, unhealthy: 0, notActive: 0 },
    });
    // A lower configured threshold lets them back in.
    expect(await route({ strategy: 'round_robin', trustThreshold: 0.12 })).toMatchObject({
      kind: 'agent',
      agent: { name: 'lower' },
    });
  });

  it('excludes disabled, deprecated and unhealthy agents, and uses the latest active version', async () => {
    await agentWith(fx, 'off', {}, {});
    await fx.registry.as(fx.caller).agents.setStatus('off', 'disabled');
    await agentWith(fx, 'old', {});
    await fx.registry.as(fx.caller).agents.setStatus('old', 'deprecated');
    await agentWith(fx, 'sick', { health: 0 });
    const v1 = await agentWith(fx, 'multi', {}, { version: '1.0.0' });
    const v2 = await agentWith(fx, 'multi', {}, { version: '1.2.0' });
    const v3 = await agentWith(fx, 'multi', {}, { version: '2.0.0' });
    await fx.registry.as(fx.caller).agents.setStatus('multi', 'disabled', '2.0.0');
    for (let i = 0; i < 3; i++) {
      const result = await route({ strategy: 'round_robin' });
      expect(result).toMatchObject({ kind: 'agent', agent: { id: v2, name: 'multi', version: '1.2.0' } });
    }
    expect([v1, v3]).not.toContain(v2);
    await fx.registry.as(fx.caller).agents.setStatus('multi', 'disabled');
    expect(await route()).toMatchObject({
      kind: 'none',
      reason: 'no healthy agent offers capability test:route (1 unhealthy, 3 not active)',
    });
  });

  it("only routes among the owner's own agents", async () => {
    await agentWith(fx, 'mine');
    const other = (await fx.store.system.insertUserIfAbsent({
      name: 'O',
      email: 'o@example.com',
      role: 'member',
    }))!;
    expect(await chooseAgent(fx.store.handle, { ownerId: other.id, capability: 'test:route' })).toMatchObject(
      { kind: 'none', reason: 'no agent offers capability test:route' },
    );
  });

  it('falls back to a builtin agent only when no registered agent offers the capability', async () => {
    expect(await route({ capability: 'builtin:noop' })).toMatchObject({
      kind: 'agent',
      agent: { id: null, name: 'builtin/noop' },
    });
    await agentWith(fx, 'mynoop', { trust: 0 }, { capabilities: ['builtin:noop'] });
    expect(await route({ capability: 'builtin:noop' })).toMatchObject({ kind: 'none' });
    expect(await route({ capability: 'nobody:offers' })).toMatchObject({
      kind: 'none',
      reason: 'no agent offers capability nobody:offers',
    });
  });

  it("records the choice on the task under its lease, using the task's strategy", async () => {
    const ids = await fixedSet();
    const [taskId] = await enqueueTasks(fx.store.handle.db, fx.store.handle.dialect, [
      {
        ownerId: fx.caller.userId,
        capability: 'test:route',
        routing: 'least_loaded',
        taskType: 'test',
        input: {},
      },
    ]);
    await fx.store.handle.db.updateTable('tasks').set({ priority: 10 }).where('id', '=', taskId!).execute();
    const [claimed] = await claimTasks(fx.store.handle, { workerId: 'w', limit: 1, leaseMs: 60_000 });
    expect(claimed!.id).toBe(taskId);
    const result = await route({ task: { id: taskId!, leaseEpoch: claimed!.leaseEpoch } });
    expect(result).toMatchObject({ kind: 'agent', strategy: 'least_loaded', agent: { id: ids.delta } });
    const row = await fx.store.handle.db
      .selectFrom('tasks')
      .selectAll()
      .where('id', '=', taskId!)
      .executeTakeFirstOrThrow();
    expect(row.assigned_agent_id).toBe(ids.delta);
    // A lease that moved on routes nothing.
    expect(await route({ task: { id: taskId!, leaseEpoch: claimed!.leaseEpoch + 1 } })).toEqual({
      kind: 'lost',
    });
  });

  it('spreads concurrent round_robin routings over the agents', async () => {
    const names = ['a1', 'a2', 'a3', 'a4'];
    for (const name of names) await agentWith(fx, name);
    const results = await Promise.all(Array.from({ length: 8 }, () => route({ strategy: 'round_robin' })));
    const counts: Record<string, number> = {};
    for (const r of results) if (r.kind === 'agent') counts[r.agent.name] = (counts[r.agent.name] ?? 0) + 1;
    expect(counts).toEqual({ a1: 2, a2: 2, a3: 2, a4: 2 });
  });
});
