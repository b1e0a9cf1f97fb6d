import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateApiKey } from '../../src/auth/index.js';
import { recordHeartbeat, recordOutcomes, type AttemptOutcome } from '../../src/routing/index.js';
import { buildApp } from '../../src/server/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { agentWith, tasksAssigned } from '../routing/helpers.js';

describe.each(DIALECTS)('agent statistics API on %s', (dialect) => {
  let fx: EngineFixture;
  let app: FastifyInstance;
  let key: string;

  beforeEach(async () => {
    fx = await engineFixture(dialect);
    const generated = generateApiKey();
    await fx.store
      .as(fx.caller)
      .apiKeys.create({ name: 'stats', prefix: generated.prefix, hash: generated.hash, scopes: ['*'] });
    key = generated.key;
    app = await buildApp({ store: fx.store });
  });
  afterEach(async () => {
    await app.close();
    await fx.close();
  });

  const get = (url: string, bearer = key) =>
    app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${bearer}` } });
  const record = (outcomes: AttemptOutcome[]) =>
    fx.store.handle.dialect.writeTransaction(fx.store.handle.db, (trx) =>
      recordOutcomes(trx, fx.store.handle.dialect, outcomes),
    );

  it("shows each version's success rate, average duration and trust history, oldest change first", async () => {
    const id = await agentWith(fx, 'scorer');
    await agentWith(fx, 'idle');
    const [t1, t2, t3] = await tasksAssigned(fx, id, 3);
    await record([{ taskId: t1!, result: 'completed', durationMs: 1000 }]);
    await record([{ taskId: t2!, result: 'completed', durationMs: 3000 }]);
    await record([{ taskId: t3!, result: 'failed' }]);

    const stats = await get('/api/v1/agent-stats');
    expect(stats.statusCode, stats.body).toBe(200);
    const items = stats.json().items as Record<string, unknown>[];
    expect(items.map((s) => s.name)).toEqual(['idle', 'scorer']);
    expect(items[0]).toMatchObject({ successRate: null, avgDurationMs: null, tasksCompleted: 0 });
    expect(items[1]).toMatchObject({
      id,
      version: '1.0.0',
      runtimeType: 'node',
      tasksCompleted: 2,
      tasksFailed: 1,
      avgDurationMs: 2000,
      lastSeenAt: null,
    });
    expect(items[1]!.successRate).toBeCloseTo(2 / 3, 6);
    expect(items[1]!.trustScore).toBeCloseTo(0.49, 6);

    const one = await get('/api/v1/agent-stats?name=scorer');
    expect(one.json().items).toHaveLength(1);

    const history = await get('/api/v1/agents/scorer/trust-history');
    expect(history.statusCode, history.body).toBe(200);
    const points = history.json().items as { eventType: string; before: number; after: number }[];
    expect(points.map((p) => [p.eventType, p.before, p.after])).toEqual([
      ['task_completed', 0.5, 0.52],
      ['task_completed', 0.52, 0.54],
      ['task_failed', 0.54, 0.49],
    ]);
    // The latest ones when limited, still oldest first.
    const latest = await get('/api/v1/agents/scorer/trust-history?limit=2');
    expect(latest.json().items.map((p: { after: number }) => p.after)).toEqual([0.54, 0.49]);
    expect((await get('/api/v1/agents/idle/trust-history')).json().items).toEqual([]);
  });

  it("shows a remote agent's last heartbeat", async () => {
    await agentWith(fx, 'remote');
    // Heartbeats are for http agents: this one is made one in place.
    await fx.store.handle.db
      .updateTable('agents')
      .set({ runtime_type: 'http' })
      .where('name', '=', 'remote')
      .execute();
    const now = new Date('2030-01-02T03:04:05.000Z');
    await recordHeartbeat(fx.store, fx.caller, 'remote', { now });
    const stats = await get('/api/v1/agent-stats?name=remote');
    expect(stats.json().items[0]).toMatchObject({ runtimeType: 'http', lastSeenAt: now.toISOString() });
  });

  it("shows another owner nothing of the caller's agents: an empty list and 404", async () => {
    const id = await agentWith(fx, 'private');
    const [t1] = await tasksAssigned(fx, id, 1);
    await record([{ taskId: t1!, result: 'completed', durationMs: 10 }]);
    const other = await memberWithKey(fx.store, { name: 'B', email: 'b@example.com' }, 'b');

    const stats = await get('/api/v1/agent-stats', other.key);
    expect(stats.statusCode).toBe(200);
    expect(stats.json().items).toEqual([]);
    expect((await get('/api/v1/agent-stats?name=private', other.key)).json().items).toEqual([]);
    const history = await get('/api/v1/agents/private/trust-history', other.key);
    expect(history.statusCode).toBe(404);
    expect(history.headers['content-type']).toMatch(/problem\+json/);
    expect(history.body).not.toContain(id);
  });

  it('refuses a bad limit naming the field, and an unknown agent with 404', async () => {
    await agentWith(fx, 'scorer');
    for (const limit of ['0', 'x', '1001']) {
      const res = await get(`/api/v1/agents/scorer/trust-history?limit=${limit}`);
      expect(res.statusCode).toBe(400);
      expect(res.json().errors).toEqual([expect.objectContaining({ field: 'limit' })]);
    }
    expect((await get('/api/v1/agents/nobody/trust-history')).statusCode).toBe(404);
    expect((await get('/api/v1/agent-stats?other=1')).statusCode).toBe(400);
  });
});
