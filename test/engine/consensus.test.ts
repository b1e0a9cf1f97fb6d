import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimTasks, completeTasks, type ClaimedTask } from '../../src/queue/index.js';
import { consensus as countVotes, type ConsensusInput } from '../../src/runtimes/consensus.js';
import { DIALECTS } from '../helpers/databases.js';
import { agentWith } from '../routing/helpers.js';
import { drain, engineFixture, type Behaviour, type EngineFixture } from './helpers.js';

/**
 * Consensus decided and recorded, end to end through the real queue and engine hooks: members
 * answer as `says` scripts them, builtin/consensus is the real counting function, and the
 * judge or aggregator answers as scripted. The decision, its consensus_results row and the
 * members' trust moves are checked against the database.
 */
describe.each(DIALECTS)('consensus on %s', (dialect) => {
  let fx: EngineFixture;
  const agentIds = new Map<string, string>();
  beforeEach(async () => {
    fx = await engineFixture(dialect);
    for (const [name, trust] of [
      ['alice', 0.5],
      ['bob', 0.995],
      ['carol', 0.01],
      ['judge', 0.5],
    ] as const)
      agentIds.set(name, await agentWith(fx, name, { trust }));
  });
  afterEach(async () => {
    await fx.close();
  });

  async function start(step: Record<string, unknown>, after = false): Promise<string> {
    const { workflows, agents } = fx.registry.as(fx.caller);
    const steps = [
      { id: 'vote', type: 'consensus', input: { q: '{{ trigger.q }}' }, ...step },
      ...(after
        ? [
            {
              id: 'after',
              agent: 'builtin/transform',
              needs: ['vote'],
              input: { got: '{{ steps.vote.output.decision }}' },
            },
          ]
        : []),
    ];
    const name = `c-${Math.random().toString(36).slice(2, 8)}`;
    const { workflow } = await workflows.apply({ name, version: '1.0.0', steps });
    return fx.engine.startRun(fx.caller, workflow, agents, { input: { q: 'ship it?' } });
  }

  /** Members answer `says[agent]`; builtin/consensus counts for real; others as `judged`. */
  const scripted =
    (says: Record<string, unknown>, judged?: (task: ClaimedTask) => unknown): Behaviour =>
    (task) => {
      const name = task.agent?.name ?? '';
      if (name === 'builtin/consensus') return { output: countVotes(task.input as ConsensusInput) };
      if (name === 'builtin/transform') return { output: task.input };
      if (
        judged !== undefined &&
        (task.stepId === 'vote' || (task.input as { proposals?: unknown }).proposals)
      )
        return { output: judged(task) };
      return { output: says[name] };
    };

  const rows = (runId: string) =>
    fx.store.handle.db.selectFrom('consensus_results').selectAll().where('run_id', '=', runId).execute();
  const consensusTrust = (agent: string) =>
    fx.store.handle.db
      .selectFrom('trust_records')
      .selectAll()
      .where('agent_id', '=', agentIds.get(agent)!)
      .where('event_type', 'in', ['consensus_agreed', 'consensus_dissented'])
      .execute();
  const trustOf = async (agent: string) =>
    Number(
      (
        await fx.store.handle.db
          .selectFrom('agents')
          .select('trust_score')
          .where('id', '=', agentIds.get(agent)!)
          .executeTakeFirstOrThrow()
      ).trust_score,
    );

  it('voting: a strict majority decides; the row is written with the completion; trust moves, clamped', async () => {
    const runId = await start({ strategy: 'voting', agents: ['alice', 'bob', 'carol'] }, true);
    const hooks = { onCompletedBatch: fx.engine.onTasksCompleted, onFailed: fx.engine.onTaskFailed };
    const claim = () => claimTasks(fx.store.handle, { workerId: 'w', limit: 10, leaseMs: 60_000 });
    const says: Record<string, unknown> = { alice: 'yes', bob: { v: 'yes' }, carol: { v: 'yes' } };
    // bob and carol agree (as objects, key order aside); alice dissents.
    const members = await claim();
    expect(members.map((t) => t.stepId).sort()).toEqual(['vote__1', 'vote__2', 'vote__3']);
    await completeTasks(
      fx.store.handle,
      members.map((t) => ({ id: t.id, leaseEpoch: t.leaseEpoch, output: says[t.agent!.name] })),
      hooks,
    );
    // The members are done, the aggregate is running: nothing decided, nothing recorded yet.
    expect((await fx.engine.getRun(fx.caller, runId)).steps.vote?.status).toBe('running');
    expect(await rows(runId)).toEqual([]);
    const [aggregate] = await claim();
    expect(aggregate?.stepId).toBe('vote');
    await completeTasks(
      fx.store.handle,
      [
        {
          id: aggregate!.id,
          leaseEpoch: aggregate!.leaseEpoch,
          output: countVotes(aggregate!.input as ConsensusInput),
        },
      ],
      hooks,
    );
    const [row] = await rows(runId);
    const decided = await fx.engine.getRun(fx.caller, runId);
    expect(decided.steps.vote).toMatchObject({
      status: 'completed',
      output: { decision: { v: 'yes' }, reached: true, agreement: 0.666667, quorum: 2 },
    });
    expect(row).toMatchObject({ consensus_type: 'voting', step_id: 'vote', task_id: aggregate!.id });
    expect(JSON.parse(row!.final_result!)).toEqual({ v: 'yes' });
    expect(Number(row!.confidence)).toBeCloseTo(0.666667);
    expect(JSON.parse(row!.agent_results)).toEqual({
      vote__1: { agent: 'alice@1.0.0', output: 'yes' },
      vote__2: { agent: 'bob@1.0.0', output: { v: 'yes' } },
      vote__3: { agent: 'carol@1.0.0', output: { v: 'yes' } },
    });
    expect(JSON.parse(row!.strategy_details!)).toMatchObject({
      quorum: 2,
      reached: true,
      tally: [
        { value: { v: 'yes' }, count: 2, members: ['vote__2', 'vote__3'] },
        { value: 'yes', count: 1, members: ['vote__1'] },
      ],
    });
    // The API answer carries it.
    expect(decided.consensus).toEqual([
      expect.objectContaining({
        stepId: 'vote',
        strategy: 'voting',
        finalResult: { v: 'yes' },
        confidence: 0.666667,
      }),
    ]);
    // alice dissented (0.5 → 0.48); bob agreed, clamped at 1 (0.995 → 1, +0.005); carol agreed (0.01 → 0.02).
    expect(await trustOf('alice')).toBeCloseTo(0.48);
    expect(await trustOf('bob')).toBe(1);
    expect(await trustOf('carol')).toBeCloseTo(0.02);
    const [bob] = await consensusTrust('bob');
    expect(bob).toMatchObject({
      event_type: 'consensus_agreed',
      trust_score_before: 0.995,
      trust_score_after: 1,
    });
    expect(Number(bob!.trust_delta)).toBeCloseTo(0.005);
    expect(bob!.reason).toContain(`step vote in run ${runId}`);
    expect((await consensusTrust('alice'))[0]).toMatchObject({ event_type: 'consensus_dissented' });
    // The step after sees the decision.
    await drain(fx, scripted({}));
    expect(await fx.engine.getRun(fx.caller, runId)).toMatchObject({
      status: 'completed',
      result: { after: { got: { v: 'yes' } } },
    });
  });

  it('voting: a missed quorum fails the step with the tally, records no decision and moves no trust', async () => {
    const runId = await start({ strategy: 'voting', agents: ['alice', 'bob', 'carol'], quorum: 3 }, true);
    await drain(fx, scripted({ alice: 'yes', bob: 'yes', carol: 'no' }));
    const run = await fx.engine.getRun(fx.caller, runId);
    expect(run.status).toBe('failed');
    expect(run.errorStep).toBe('vote');
    expect(run.steps.vote?.status).toBe('failed');
    expect(run.steps.vote?.error).toBe('step vote failed: NO_QUORUM: 2 of 3 members agreed; quorum is 3');
    expect(run.steps.after?.status).toBe('pending');
    const [row] = await rows(runId);
    expect(row?.final_result).toBeNull();
    expect(JSON.parse(row!.strategy_details!)).toMatchObject({ reached: false, quorum: 3 });
    expect(await consensusTrust('alice')).toEqual([]);
    expect(await trustOf('alice')).toBe(0.5);
  });

  it('voting: on_no_quorum continue completes with reached false and the plurality', async () => {
    const runId = await start(
      { strategy: 'voting', agents: ['alice', 'bob', 'carol'], quorum: 3, on_no_quorum: 'continue' },
      true,
    );
    await drain(fx, scripted({ alice: 'yes', bob: 'no', carol: 'yes' }));
    const run = await fx.engine.getRun(fx.caller, runId);
    expect(run.status).toBe('completed');
    expect(run.steps.vote?.output).toMatchObject({ decision: 'yes', reached: false, agreement: 0.666667 });
    expect(run.result).toEqual({ after: { got: 'yes' } });
    const [row] = await rows(runId);
    expect(JSON.parse(row!.final_result!)).toBe('yes');
    expect(await consensusTrust('bob')).toEqual([]);
  });

  it('weighted: trust scores at decision time outweigh a plain count', async () => {
    // alice 0.5 + carol 0.01 say yes (2 votes); bob 0.995 says no (1 vote): bob's weight wins.
    const runId = await start({ strategy: 'weighted', agents: ['alice', 'bob', 'carol'], trust: false });
    await drain(fx, scripted({ alice: 'yes', bob: 'no', carol: 'yes' }));
    const run = await fx.engine.getRun(fx.caller, runId);
    expect(run.status).toBe('completed');
    expect(run.steps.vote?.output).toMatchObject({
      decision: 'no',
      reached: true,
      agreement: 0.66113,
      weights: { vote__1: 0.5, vote__2: 0.995, vote__3: 0.01 },
    });
    const [row] = await rows(runId);
    expect(row?.consensus_type).toBe('weighted');
    expect(JSON.parse(row!.strategy_details!)).toMatchObject({ total_weight: 1.505, reached: true });
    // trust: false — nobody's trust moved.
    expect(await consensusTrust('bob')).toEqual([]);

    // Forked from the decision: the members' answers are reused, and weighed by the trust of the
    // agents that gave them in the original run.
    const forkId = await fx.engine.forkRun(fx.caller, runId, { fromStep: 'vote' }, fx.registry.as(fx.caller));
    const replayed = await drain(fx, scripted({}));
    expect(replayed.map((t) => t.stepId)).toEqual(['vote']);
    const fork = await fx.engine.getRun(fx.caller, forkId);
    expect(fork.steps.vote__2).toMatchObject({ reused_from: runId, output: 'no' });
    expect(fork.steps.vote?.output).toMatchObject({ decision: 'no', reached: true, agreement: 0.66113 });
    expect(fork.consensus?.[0]?.agentResults).toMatchObject({
      vote__2: { agent: 'bob@1.0.0', output: 'no' },
    });

    // A quorum of 0.7 of the weight is missed: the step fails saying by how much.
    const missed = await start({ strategy: 'weighted', agents: ['alice', 'bob', 'carol'], quorum: 0.7 });
    await drain(fx, scripted({ alice: 'yes', bob: 'no', carol: 'yes' }));
    expect((await fx.engine.getRun(fx.caller, missed)).steps.vote?.error).toBe(
      'step vote failed: NO_QUORUM: 0.66113 of the trust weight agreed (0.995 of 1.505); quorum is 0.7',
    );
  });

  it('judge_based: the verdict picks a candidate with a confidence; a bad verdict fails naming the field', async () => {
    const runId = await start({ strategy: 'judge_based', agents: ['alice', 'bob'], judge: 'judge' });
    let judgeInput: unknown;
    await drain(
      fx,
      scripted({ alice: 'short', bob: 'a longer answer' }, (task) => {
        judgeInput = task.input;
        return { choice: 1, confidence: 0.8, reasoning: 'the longest' };
      }),
    );
    expect(judgeInput).toEqual({
      strategy: 'judge_based',
      candidates: ['short', 'a longer answer'],
      input: { q: 'ship it?' },
    });
    const run = await fx.engine.getRun(fx.caller, runId);
    expect(run.steps.vote?.output).toEqual({
      decision: 'a longer answer',
      choice: 1,
      confidence: 0.8,
      reasoning: 'the longest',
    });
    const [row] = await rows(runId);
    expect(row).toMatchObject({ consensus_type: 'judge_based' });
    expect(Number(row!.confidence)).toBe(0.8);
    expect(JSON.parse(row!.strategy_details!)).toEqual({
      choice: 1,
      reasoning: 'the longest',
      chosen: 'vote__2',
    });
    expect((await consensusTrust('bob'))[0]?.event_type).toBe('consensus_agreed');
    expect((await consensusTrust('alice'))[0]?.event_type).toBe('consensus_dissented');

    const bad = await start({ strategy: 'judge_based', agents: ['alice', 'bob'], judge: 'judge' });
    await drain(
      fx,
      scripted({ alice: 'x', bob: 'y' }, () => ({ choice: 0, confidence: 1.5, reasoning: 'sure' })),
    );
    const failed = await fx.engine.getRun(fx.caller, bad);
    expect(failed.status).toBe('failed');
    expect(failed.steps.vote?.error).toBe(
      "step vote failed: output.confidence: must be between 0 and 1 (the judge's verdict)",
    );
    expect(await rows(bad)).toEqual([]);
  });

  it('mixture_of_agents: proposers, two aggregation layers, then the aggregator answers', async () => {
    const runId = await start({
      strategy: 'mixture_of_agents',
      agents: ['alice', 'bob'],
      layers: [['carol', 'alice'], ['bob']],
      aggregator: 'judge',
    });
    const seen: Record<string, unknown> = {};
    await drain(fx, (task) => {
      seen[task.stepId!] = task.input;
      const input = task.input as { proposals?: string[] };
      const name = task.agent!.name;
      if (task.stepId === 'vote') return { output: { answer: input.proposals!.join('+'), confidence: 0.7 } };
      if (input.proposals) return { output: `${name}(${input.proposals.join(',')})` };
      return { output: name };
    });
    expect(seen['vote__3']).toEqual({ input: { q: 'ship it?' }, proposals: ['alice', 'bob'] });
    expect(seen['vote__5']).toEqual({
      input: { q: 'ship it?' },
      proposals: ['carol(alice,bob)', 'alice(alice,bob)'],
    });
    const answer = 'bob(carol(alice,bob),alice(alice,bob))';
    expect(seen['vote']).toEqual({
      strategy: 'mixture_of_agents',
      input: { q: 'ship it?' },
      proposals: [answer],
    });
    const run = await fx.engine.getRun(fx.caller, runId);
    expect(run.status).toBe('completed');
    expect(run.steps.vote?.output).toEqual({ answer, confidence: 0.7 });
    const [row] = await rows(runId);
    expect(row).toMatchObject({ consensus_type: 'mixture_of_agents' });
    expect(Number(row!.confidence)).toBe(0.7);
    expect(Object.keys(JSON.parse(row!.agent_results) as object).sort()).toEqual([
      'vote__1',
      'vote__2',
      'vote__3',
      'vote__4',
      'vote__5',
    ]);
    expect(await consensusTrust('alice')).toEqual([]);
  });

  it('a completion planned before its transaction records the decision planned, and fails as planned', async () => {
    for (const [quorum, fails] of [
      [2, false],
      [3, true],
    ] as const) {
      const runId = await start({ strategy: 'voting', agents: ['alice', 'bob', 'carol'], quorum });
      const claim = () => claimTasks(fx.store.handle, { workerId: 'w', limit: 10, leaseMs: 60_000 });
      const says: Record<string, unknown> = { alice: 'yes', bob: 'yes', carol: 'no' };
      const members = await claim();
      await drainOnly(members, (t) => says[t.agent!.name]);
      const [aggregate] = await claim();
      const completion = {
        id: aggregate!.id,
        leaseEpoch: aggregate!.leaseEpoch,
        output: countVotes(aggregate!.input as ConsensusInput),
        runId: aggregate!.runId,
        stepId: aggregate!.stepId,
        itemIndex: aggregate!.itemIndex,
      };
      // Planned outside any transaction (as the queue does for a batch that asks), then written.
      const plans = await fx.engine.prepareCompletions([completion]);
      // Marked, to tell the planned record from one worked out again in the transaction.
      const planned = (
        plans as unknown as { runs: Map<string, { consensus: { details: object }[] }> }
      ).runs.get(runId)!.consensus;
      expect(planned).toHaveLength(1);
      Object.assign(planned[0]!.details, { from: 'the plan' });
      await completeTasks(fx.store.handle, [completion], {
        onCompletedBatch: (trx, tasks) => fx.engine.onTasksCompleted(trx, tasks, plans),
        onFailed: fx.engine.onTaskFailed,
      });
      const run = await fx.engine.getRun(fx.caller, runId);
      expect(run.status).toBe(fails ? 'failed' : 'completed');
      const [row] = await rows(runId);
      expect(row?.final_result ?? null).toBe(fails ? null : '"yes"');
      expect(JSON.parse(row!.strategy_details!)).toMatchObject({ from: 'the plan', reached: !fails });
    }
    // The passing vote moved carol's trust once (dissent), the failing one not at all.
    expect((await consensusTrust('carol')).map((r) => r.event_type)).toEqual(['consensus_dissented']);
  });

  /** Completes `tasks` with `output(task)` through the engine's hooks. */
  async function drainOnly(tasks: readonly ClaimedTask[], output: (task: ClaimedTask) => unknown) {
    await completeTasks(
      fx.store.handle,
      tasks.map((t) => ({ id: t.id, leaseEpoch: t.leaseEpoch, output: output(t) })),
      { onCompletedBatch: fx.engine.onTasksCompleted, onFailed: fx.engine.onTaskFailed },
    );
  }

  it('GET /runs/{id}/consensus answers only the owner', async () => {
    const runId = await start({ strategy: 'voting', agents: ['alice', 'bob'], trust: false });
    await drain(fx, scripted({ alice: 1, bob: 1 }));
    expect(await fx.engine.listConsensus(fx.caller, runId)).toHaveLength(1);
    const other = (await fx.store.system.insertUserIfAbsent({
      name: 'O',
      email: 'o@example.com',
      role: 'member',
    }))!;
    await expect(
      fx.engine.listConsensus({ userId: other.id, role: other.role }, runId),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    expect((await fx.engine.getRun(fx.caller, runId)).consensus).toHaveLength(1);
  });
});
