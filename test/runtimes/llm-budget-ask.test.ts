/**
 * on_budget: ask, end to end: a real server and worker and the scripted model. A loop that hits
 * its run or step budget asks the run's owner (an approval in the inbox) instead of failing;
 * approved, it carries on with the same conversation and one more allowance; rejected or timed
 * out, the step fails with the budget error naming who decided. The owner's daily budget is
 * never asked about.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listApprovals } from '../../src/approvals/index.js';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { bearerClient } from '../helpers/api-client.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { until } from '../helpers/until.js';
import { startScriptedModel, type ScriptedModel } from './scripted-model.js';

interface Approval {
  id: string;
  runId: string;
  stepId: string;
  status: string;
  message: string;
  data: Record<string, unknown>;
  onTimeout: string;
  canDecide: boolean;
}

describe.each(DIALECTS)('on_budget: ask on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let model: ScriptedModel;
  let key: string;

  const { api, ok } = bearerClient(
    () => `${server.url}`,
    () => key,
  );

  beforeAll(async () => {
    model = await startScriptedModel();
    testDb = await createTestDatabase(dialect);
    server = await startServer(
      loadConfig({
        DATABASE_URL: testDb.url,
        SWARM_HOME: path.join(testDb.dir, 'home'),
        SWARM_PORT: '0',
        SWARM_LOG_LEVEL: 'silent',
        SWARM_LLM_ALLOWED_URLS: new URL(model.url).origin,
      }),
    );
    key = server.bootstrapped!.key;
    // The tests poll the API: a key with room for that.
    key = (
      await ok('POST', '/api/v1/keys', {
        name: 'budget ask tests',
        rateLimitPerMinute: 100_000,
        rateLimitPerHour: 1_000_000,
      })
    ).key as string;
    await ok('PUT', '/api/v1/llm-providers/primary', {
      provider: 'custom',
      base_url: model.url,
      model: 'm-1',
    });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await testDb?.drop();
    await model?.close();
  });

  let n = 0;
  async function start(runtime: Record<string, unknown>, budgets: { run?: unknown; step?: unknown }) {
    const name = `asker-${++n}`;
    await ok('POST', '/api/v1/agents', {
      name,
      version: '1.0.0',
      type: 'reasoning',
      capabilities: ['text:think'],
      runtime: { type: 'llm', provider: 'primary', model: 'm-1', tools: [{ agent: 'echo@^1' }], ...runtime },
    });
    await ok('POST', '/api/v1/workflows', {
      name: `${name}-flow`,
      version: '1.0.0',
      ...(budgets.run === undefined ? {} : { budget: budgets.run }),
      steps: [
        {
          id: 'think',
          agent: `${name}@^1`,
          input: { prompt: 'go' },
          ...(budgets.step === undefined ? {} : { budget: budgets.step }),
        },
      ],
    });
    const { id } = (await ok('POST', `/api/v1/workflows/${name}-flow/runs`, { input: {} })) as { id: string };
    return id;
  }
  async function ended(id: string) {
    return (await until(
      `run ${id} to end`,
      async () => {
        const view = await ok('GET', `/api/v1/runs/${id}`);
        return view.status === 'running' || view.status === 'pending' ? null : view;
      },
      15_000,
    )) as { status: string; error: string | null; steps: Record<string, { output: unknown }> };
  }
  async function asked(runId: string, count = 1): Promise<Approval> {
    return until(`approval ${count} of run ${runId}`, async () => {
      const items = (await ok('GET', '/api/v1/approvals?status=all')).items as Approval[];
      const mine = items.filter((a) => a.runId === runId);
      return mine.length === count ? mine.find((a) => a.status === 'waiting') : null;
    });
  }
  const echo = (i: number) => ({
    toolCalls: [{ name: 'echo', arguments: { i } }],
    usage: { input: 300, output: 100 },
  });

  it('asks the owner when the run budget is hit; approved, the same conversation carries on', async () => {
    const before = model.requests.length;
    model.script = [echo(1), echo(2), echo(3), { text: 'done', usage: { input: 300, output: 100 } }];
    const runId = await start({ on_budget: 'ask' }, { run: { tokens: 1000 } });
    const approval = await asked(runId);
    expect(approval).toMatchObject({
      stepId: 'think',
      status: 'waiting',
      onTimeout: 'reject',
      canDecide: true,
      data: {
        scope: 'run',
        unit: 'tokens',
        limit: 1000,
        spent: 800,
        next_call: 400,
        limit_if_approved: 2000,
        ask: 1,
      },
    });
    expect(approval.message).toMatch(
      /^Agent asker-\d+@1\.0\.0 hit its budget: the run's budget is 1000 tokens, 800 tokens spent.*Continue\?/,
    );
    // Two calls made; the third waits for the decision, and the step holds no worker.
    expect(model.requests.length - before).toBe(2);
    expect((await ok('GET', `/api/v1/runs/${runId}`)).status).toBe('running');
    // The same list the inbox and the CLI read.
    const listed = await listApprovals(server.store.handle, ownerId(), { status: 'waiting' });
    expect(listed.items.map((i) => i.waitpoint.key)).toContain('budget-1');

    await ok('POST', `/api/v1/approvals/${approval.id}`, { decision: 'approve', comment: 'worth it' });
    const run = await ended(runId);
    expect(run.status, JSON.stringify(run)).toBe('completed');
    expect(run.steps.think!.output).toEqual({ text: 'done' });
    // 1200 + 400 stays within the raised 2000: no second ask, and nothing was called twice.
    const calls = model.requests.slice(before);
    expect(calls).toHaveLength(4);
    const sent = (i: number) => calls[i]!.body.messages as { role: string; content: unknown }[];
    // The third call is the second's conversation plus its reply and tool result: not a restart.
    expect(sent(2).slice(0, sent(1).length)).toEqual(sent(1));
    expect(sent(2)).toHaveLength(sent(1).length + 2);
    expect(sent(3).filter((m) => m.role === 'user')).toHaveLength(1);
  }, 30_000);

  it('asks again past the raised step budget (budget-2); rejected, the step fails naming who decided', async () => {
    const before = model.requests.length;
    model.script = [echo(1), echo(2), { text: 'never sent' }];
    const runId = await start({ on_budget: 'ask' }, { step: { tokens: 500 } });
    const first = await asked(runId);
    expect(first.data).toMatchObject({ scope: 'step', limit: 500, spent: 400, ask: 1 });
    await ok('POST', `/api/v1/approvals/${first.id}`, { decision: 'approve' });
    const second = await asked(runId, 2);
    expect(second.data).toMatchObject({
      scope: 'step',
      limit: 1000,
      spent: 800,
      limit_if_approved: 1500,
      ask: 2,
    });
    expect(second.message).toContain("the step's budget is 1000 tokens");
    await ok('POST', `/api/v1/approvals/${second.id}`, { decision: 'reject', comment: 'too pricey' });
    const run = await ended(runId);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(
      /budget exceeded: 800 tokens spent.*the step's budget is 1000 tokens \(raised by approval from 500\).*continuing was rejected by .*"too pricey"/,
    );
    expect(model.requests.length - before).toBe(2);
    model.script = [];
  }, 30_000);

  it('fails the step when nobody decides before budget_approval_timeout', async () => {
    model.script = [echo(1), { text: 'never sent' }];
    const runId = await start({ on_budget: 'ask', budget_approval_timeout: '1s' }, { run: { tokens: 500 } });
    expect((await asked(runId)).status).toBe('waiting');
    const run = await ended(runId);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(
      /the run's budget is 500 tokens.*nobody decided whether to continue before .*budget-1 timed out/,
    );
    const items = (await ok('GET', '/api/v1/approvals?status=timed_out')).items as Approval[];
    expect(items.map((a) => a.runId)).toContain(runId);
    model.script = [];
  }, 30_000);

  it('refuses bad on_budget settings at registration, naming the field', async () => {
    const agent = (runtime: Record<string, unknown>) =>
      api('POST', '/api/v1/agents', {
        name: 'bad-asker',
        version: '1.0.0',
        type: 'reasoning',
        capabilities: ['x'],
        runtime: { type: 'llm', provider: 'primary', model: 'm', ...runtime },
      });
    for (const [runtime, field, text] of [
      [{ on_budget: 'maybe' }, 'runtime.on_budget', 'must be one of fail, ask'],
      [{ budget_approval_timeout: '1h' }, 'runtime.budget_approval_timeout', 'on_budget: ask only'],
      [{ on_budget: 'ask', budget_approval_timeout: 'soon' }, 'runtime.budget_approval_timeout', 'duration'],
      [{ on_budget: 'ask', budget_approval_timeout: 60 }, 'runtime.budget_approval_timeout', 'duration'],
    ] as const) {
      const res = await agent(runtime);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(JSON.stringify(res.body)).toContain(field);
      expect(JSON.stringify(res.body)).toContain(text);
    }
    expect((await api('GET', '/api/v1/agents/bad-asker')).status).toBe(404);
  });

  it("never asks about the owner's daily budget: the step fails as before", async () => {
    await ok('PUT', '/api/v1/budgets/day', { tokens: 100 });
    try {
      const before = model.requests.length;
      model.script = [{ text: 'never sent' }];
      const runId = await start({ on_budget: 'ask' }, { run: { tokens: 100_000 } });
      const run = await ended(runId);
      expect(run.status).toBe('failed');
      expect(run.error).toMatch(/the owner's daily budget is 100 tokens/);
      expect(model.requests.length).toBe(before);
      const items = (await ok('GET', '/api/v1/approvals?status=all')).items as Approval[];
      expect(items.filter((a) => a.runId === runId)).toEqual([]);
    } finally {
      model.script = [];
      await api('DELETE', '/api/v1/budgets/day');
    }
  }, 30_000);

  /** The admin the server bootstrapped: the owner of everything these tests make. */
  const ownerId = () => server.bootstrapped!.user.id;
});
