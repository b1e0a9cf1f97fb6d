import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createWorker, type Worker } from '../../src/worker/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { until } from '../helpers/until.js';

const AGENTS = path.resolve('examples/agents');

/**
 * The dynamic patterns end to end, with deterministic process agents: every turn is a child task
 * of the pattern's one step, and what was said is in `messages`. One engine and worker per dialect.
 */
describe.each(DIALECTS)('dynamic orchestration on %s', (dialect) => {
  let fx: EngineFixture;
  let worker: Worker;
  beforeAll(async () => {
    fx = await engineFixture(dialect);
    const { agents } = fx.registry.as(fx.caller);
    const code = (folder: string, name: string) =>
      agents.register(
        {
          name,
          version: '1.0.0',
          type: 'execution',
          capabilities: [`test:${name}`],
          runtime: { type: 'node', entry: 'index.js' },
          input_schema: { type: 'object' },
          output_schema: { type: 'object' },
        },
        { path: path.join(AGENTS, folder) },
      );
    await code('planner', 'planner');
    await code('echo', 'echo');
    await code('echo', 'echo2');
    await code('speaker', 'alice');
    await code('speaker', 'bob');
    await code('speaker', 'carol');
    await code('moderator', 'moderator');
    await code('desk', 'triage');
    await code('desk', 'billing');
    await code('desk', 'refunds');
    const config = loadConfig({ DATABASE_URL: fx.testDb.url, SWARM_HOME: fx.testDb.dir });
    worker = createWorker(fx.store, fx.engine, config, pino({ level: 'silent' }), { concurrency: 4 });
    worker.start();
  }, 60_000);
  afterAll(async () => {
    await worker?.stop(1000);
    await fx?.close();
  });

  async function runStep(step: Record<string, unknown>, input: unknown = {}) {
    const { workflows, agents } = fx.registry.as(fx.caller);
    const { workflow } = await workflows.apply({
      name: `w${Math.random().toString(36).slice(2, 8)}`,
      version: '1.0.0',
      steps: [{ id: 'talk', ...step }],
    });
    const id = await fx.engine.startRun(fx.caller, workflow, agents, { input });
    worker.notify();
    const run = await until(
      `run ${id} to end`,
      async () => {
        const view = await fx.engine.getRun(fx.caller, id);
        return ['completed', 'failed', 'cancelled', 'timeout'].includes(view.status) ? view : undefined;
      },
      30_000,
    );
    const db = fx.store.handle.db;
    const step_ = await db.selectFrom('tasks').selectAll().where('run_id', '=', id).execute();
    const children = await db
      .selectFrom('tasks')
      .selectAll()
      .where(
        'parent_task_id',
        'in',
        step_.map((t) => t.id),
      )
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    const messages = await fx.store.as(fx.caller).records.runMessages(id);
    return { run, steps: step_, children, messages };
  }

  it('hierarchical: plans 3 subtasks over 2 agents, re-plans once, answers; each subtask ran once', async () => {
    const { run, steps, children, messages } = await runStep({
      pattern: 'hierarchical',
      coordinator: 'planner',
      pool: ['echo', 'echo2'],
      input: { text: 'one two three four five six' },
    });
    expect(run.status).toBe('completed');
    expect(steps).toHaveLength(1);
    const out = run.steps.talk!.output as Record<string, unknown>;
    expect(out).toMatchObject({ rounds: 3, subtasks: 4, stop_reason: 'answer' });
    expect((out.answer as { parts: number }).parts).toBe(4);
    // 3 coordinator calls + 3 subtasks + 1 re-planned subtask, each one task, one attempt.
    expect(children).toHaveLength(7);
    expect(children.every((c) => c.status === 'COMPLETED' && c.retry_count === 0)).toBe(true);
    const workers = children.filter((c) => c.agent_name !== 'planner').map((c) => c.agent_name);
    expect(workers).toEqual(['echo', 'echo2', 'echo', 'echo2']);
    // The plans (3) and the subtasks' results (4) are in the record.
    expect(messages).toHaveLength(7);
    expect(messages.filter((m) => m.recipient === 'planner')).toHaveLength(4);
  });

  it('hierarchical: a coordinator that keeps delegating is stopped by max_rounds', async () => {
    const { run, children } = await runStep({
      pattern: 'hierarchical',
      coordinator: 'planner',
      pool: ['echo'],
      max_rounds: 2,
      input: { keep_delegating: true },
    });
    expect(run.status).toBe('failed');
    expect(run.steps.talk!.error).toMatch(/still delegates after 2 rounds \(max_rounds\)/);
    expect(children).toHaveLength(3); // plan, subtask, plan
  });

  it('round_robin: stopped by until at round 3 of 10; every message delivered and stored', async () => {
    const { run, children, messages } = await runStep({
      pattern: 'round_robin',
      agents: ['alice', 'bob'],
      max_rounds: 10,
      until: 'last.round >= 3 and last.from = "bob"',
      input: { topic: 'tests' },
    });
    expect(run.status).toBe('completed');
    expect(run.steps.talk!.output).toMatchObject({
      rounds: 3,
      turns: 6,
      stop_reason: 'until',
      last_speaker: 'bob',
    });
    expect(children).toHaveLength(6);
    expect(messages.map((m) => m.recipient)).toEqual(['bob', 'alice', 'bob', 'alice', 'bob', 'alice']);
    // Delivered: bob's first turn heard alice's.
    const second = JSON.parse(String(children[1]!.input_data)) as {
      previous: { text: string };
      transcript: unknown[];
    };
    expect(second.previous.text).toMatch(/^alice \(round 1\)/);
    expect(second.transcript).toHaveLength(1);
  });

  it('selector: an expression picks the next speaker', async () => {
    const byExpression = await runStep({
      pattern: 'selector',
      agents: ['alice', 'bob', 'carol'],
      selector: { expression: 'last.from = "alice" ? "carol" : "alice"' },
      max_rounds: 4,
    });
    expect(byExpression.run.status).toBe('completed');
    expect(byExpression.run.steps.talk!.output).toMatchObject({ turns: 4, stop_reason: 'max_rounds' });
    expect(byExpression.children.map((c) => c.agent_name)).toEqual(['alice', 'carol', 'alice', 'carol']);
    const bad = await runStep({
      pattern: 'selector',
      agents: ['alice', 'bob'],
      selector: { expression: '"nobody"' },
    });
    expect(bad.run.status).toBe('failed');
    expect(bad.run.steps.talk!.error).toMatch(/chose "nobody", which is not one of the speakers/);
  });

  it('selector: an agent picks the next speaker after every turn, given the transcript', async () => {
    const { run, children, messages } = await runStep({
      pattern: 'selector',
      agents: ['alice', 'bob', 'carol'],
      selector: { agent: 'moderator@^1' },
      max_rounds: 4,
    });
    expect(run.status).toBe('completed');
    expect(run.steps.talk!.output).toMatchObject({
      turns: 4,
      stop_reason: 'max_rounds',
      last_speaker: 'carol',
    });
    // The moderator picks the least heard candidate other than the last speaker: alice opens.
    expect(messages.map((m) => m.sender)).toEqual(['alice@1.0.0', 'carol@1.0.0', 'bob@1.0.0', 'carol@1.0.0']);
    // Its three picks are child tasks of their own, between the turns, each given the transcript.
    expect(children.map((c) => c.agent_name)).toEqual([
      'alice',
      'moderator',
      'carol',
      'moderator',
      'bob',
      'moderator',
      'carol',
    ]);
    const picks = children
      .filter((c) => c.agent_name === 'moderator')
      .map((c) => JSON.parse(String(c.input_data)) as { transcript: unknown[]; candidates: string[] });
    expect(picks.map((p) => p.transcript.length)).toEqual([1, 2, 3]);
    expect(picks[0]!.candidates).toEqual(['alice', 'bob', 'carol']);
    // A pick that is not a speaker fails the step, naming what was chosen.
    const bad = await runStep({
      pattern: 'selector',
      agents: ['alice', 'bob'],
      selector: { agent: 'echo' },
      max_rounds: 3,
    });
    expect(bad.run.status).toBe('failed');
    expect(bad.run.steps.talk!.error).toMatch(
      /the selector agent chose null, which is not one of the speakers/,
    );
  });

  it('mesh: every agent speaks each round and hears all the earlier rounds; done stops it', async () => {
    const { run, children, messages } = await runStep({
      pattern: 'mesh',
      agents: ['alice', 'bob', 'carol'],
      max_rounds: 5,
      input: { done_at: 2 },
    });
    expect(run.status).toBe('completed');
    expect(run.steps.talk!.output).toMatchObject({ rounds: 2, turns: 6, stop_reason: 'done' });
    expect(messages.every((m) => m.messageType === 'broadcast' && m.recipient === null)).toBe(true);
    const round2 = children
      .slice(3)
      .map((c) => JSON.parse(String(c.input_data)) as { transcript: unknown[] });
    expect(round2.every((i) => i.transcript.length === 3)).toBe(true);
  });

  it('handoff: hands on along a route and answers; a ping-pong is stopped by the cap', async () => {
    const ok = await runStep({
      pattern: 'handoff',
      agents: ['triage', 'billing', 'refunds'],
      input: { route: ['billing', 'refunds'], question: 'refund?' },
    });
    expect(ok.run.status).toBe('completed');
    expect(ok.run.steps.talk!.output).toMatchObject({
      agent: 'refunds',
      handoffs: 2,
      path: ['triage', 'billing', 'refunds'],
    });
    const handoffs = ok.messages.filter((m) => m.messageType === 'request');
    expect(handoffs.map((m) => m.recipient)).toEqual(['billing', 'refunds']);
    const pingPong = await runStep({
      pattern: 'handoff',
      agents: ['triage', 'billing'],
      max_ping_pong: 2,
      input: { route: ['billing'], ping_pong: true },
    });
    expect(pingPong.run.status).toBe('failed');
    expect(pingPong.run.steps.talk!.error).toMatch(/triage and billing|billing and triage/);
    expect(pingPong.children).toHaveLength(4);
  });

  it('refuses bad definitions with the field that is wrong', async () => {
    const { workflows } = fx.registry.as(fx.caller);
    const apply = (step: Record<string, unknown>) =>
      workflows.apply({ name: 'bad', version: '1.0.0', steps: [{ id: 's', ...step }] }).then(
        () => [],
        (e: { issues?: { field: string; message: string }[] }) => e.issues ?? [],
      );
    expect(
      await apply({ pattern: 'hierarchical', coordinator: 'planner', pool: ['planner'] }),
    ).toContainEqual({
      field: 'steps[0].pool[0]',
      message: expect.stringMatching(/is the coordinator/) as string,
    });
    expect(await apply({ pattern: 'round_robin', agents: ['alice'], until: '(' })).toContainEqual(
      expect.objectContaining({ field: 'steps[0].until' }),
    );
    expect(await apply({ pattern: 'selector', agents: ['alice', 'bob'] })).toContainEqual(
      expect.objectContaining({ field: 'steps[0].selector' }),
    );
    expect(await apply({ pattern: 'mesh', agents: ['alice'], max_handoffs: 2 })).toContainEqual({
      field: 'steps[0].max_handoffs',
      message: 'only allowed with pattern handoff',
    });
    expect(await apply({ pattern: 'handoff', agents: ['triage', 'nobody'] })).toContainEqual(
      expect.objectContaining({ field: 'steps[0].agents[1]', message: 'unknown agent "nobody"' }),
    );
  });
});
