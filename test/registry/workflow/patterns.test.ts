import { describe, expect, it } from 'vitest';
import type { NormalizedWorkflow } from '../../../src/registry/workflow/index.js';
import { DEFAULTS, valid } from './helpers.js';

/** The DAG in short: id, agent as name@range, needs, input. */
function dag(wf: NormalizedWorkflow) {
  return wf.steps.map((s) => ({
    id: s.id,
    agent: s.agent ? `${s.agent.name}@${s.agent.range}` : undefined,
    needs: s.needs,
    input: s.input,
  }));
}
const out = (id: string) => `{{ steps.${id}.output }}`;
const I = { topic: '{{ trigger.topic }}' };

/** A workflow: a source step `start`, the pattern step `p`, and `after`, which reads p's result. */
function around(p: Record<string, unknown>) {
  return {
    name: 'patterns',
    version: '1.0.0',
    steps: [
      { id: 'start', agent: 'builtin/noop' },
      {
        id: 'p',
        needs: ['start'],
        input: I,
        priority: 8,
        when: 'trigger.go',
        retry: { max_attempts: 3 },
        ...p,
      },
      { id: 'after', agent: 'builtin/noop', needs: ['p'], input: { result: out('p') } },
    ],
  };
}
const start = { id: 'start', agent: 'builtin/noop@*', needs: [], input: {} };
const after = { id: 'after', agent: 'builtin/noop@*', needs: ['p'], input: { result: out('p') } };

describe('orchestration patterns expand; the last step keeps the id, the first inherit needs', () => {
  it('sequential: a chain, each later agent gets the previous output', async () => {
    const wf = await valid(around({ pattern: 'sequential', agents: ['writer', 'editor@^1', 'critic'] }));
    expect(dag(wf)).toEqual([
      start,
      { id: 'p__1', agent: 'writer@*', needs: ['start'], input: I },
      { id: 'p__2', agent: 'editor@^1', needs: ['p__1'], input: { input: I, previous: out('p__1') } },
      { id: 'p', agent: 'critic@*', needs: ['p__2'], input: { input: I, previous: out('p__2') } },
      after,
    ]);
    // Every generated step carries the pattern step's when, retry and priority.
    for (const s of wf.steps.slice(1, 4)) {
      expect(s).toMatchObject({
        when: 'trigger.go',
        priority: 8,
        retry: { ...DEFAULTS.retry, max_attempts: 3 },
      });
      expect(s.origin).toMatchObject({ kind: 'pattern', step: 'p', pattern: 'sequential', role: 'member' });
    }
  });

  it('concurrent: all on the same input, then a builtin/transform join keyed by agent', async () => {
    const wf = await valid(around({ pattern: 'concurrent', agents: ['writer', 'editor', 'writer'] }));
    expect(dag(wf)).toEqual([
      start,
      { id: 'p__1', agent: 'writer@*', needs: ['start'], input: I },
      { id: 'p__2', agent: 'editor@*', needs: ['start'], input: I },
      { id: 'p__3', agent: 'writer@*', needs: ['start'], input: I },
      {
        id: 'p',
        agent: 'builtin/transform@*',
        needs: ['p__1', 'p__2', 'p__3'],
        input: { writer: out('p__1'), editor: out('p__2'), 'writer#2': out('p__3') },
      },
      after,
    ]);
    expect(wf.steps[4]?.origin).toEqual({ kind: 'pattern', step: 'p', pattern: 'concurrent', role: 'join' });
  });

  it('hierarchical: coordinator plans, workers run in parallel on the plan, coordinator synthesises', async () => {
    const wf = await valid(around({ pattern: 'hierarchical', agents: ['writer', 'editor', 'critic'] }));
    const plan = { input: I, plan: out('p__1') };
    expect(dag(wf)).toEqual([
      start,
      { id: 'p__1', agent: 'writer@*', needs: ['start'], input: I },
      { id: 'p__2', agent: 'editor@*', needs: ['p__1'], input: plan },
      { id: 'p__3', agent: 'critic@*', needs: ['p__1'], input: plan },
      {
        id: 'p',
        agent: 'writer@*',
        needs: ['p__2', 'p__3'],
        input: { ...plan, results: { editor: out('p__2'), critic: out('p__3') } },
      },
      after,
    ]);
    expect(wf.steps.slice(1, 5).map((s) => s.origin?.role)).toEqual([
      'plan',
      'worker',
      'worker',
      'synthesis',
    ]);
  });

  it('round_robin: agents take turns for the given rounds as one chain', async () => {
    const wf = await valid(around({ pattern: 'round_robin', agents: ['writer', 'critic'], rounds: 2 }));
    expect(dag(wf)).toEqual([
      start,
      { id: 'p__1', agent: 'writer@*', needs: ['start'], input: I },
      {
        id: 'p__2',
        agent: 'critic@*',
        needs: ['p__1'],
        input: { input: I, previous: out('p__1'), round: 1 },
      },
      {
        id: 'p__3',
        agent: 'writer@*',
        needs: ['p__2'],
        input: { input: I, previous: out('p__2'), round: 2 },
      },
      { id: 'p', agent: 'critic@*', needs: ['p__3'], input: { input: I, previous: out('p__3'), round: 2 } },
      after,
    ]);
  });

  it('mesh: each round runs everyone in parallel on all of the previous round, then a join', async () => {
    const wf = await valid(around({ pattern: 'mesh', agents: ['writer', 'critic'], rounds: 2 }));
    const previous = { writer: out('p__1'), critic: out('p__2') };
    expect(dag(wf)).toEqual([
      start,
      { id: 'p__1', agent: 'writer@*', needs: ['start'], input: I },
      { id: 'p__2', agent: 'critic@*', needs: ['start'], input: I },
      { id: 'p__3', agent: 'writer@*', needs: ['p__1', 'p__2'], input: { input: I, round: 2, previous } },
      { id: 'p__4', agent: 'critic@*', needs: ['p__1', 'p__2'], input: { input: I, round: 2, previous } },
      {
        id: 'p',
        agent: 'builtin/transform@*',
        needs: ['p__3', 'p__4'],
        input: { writer: out('p__3'), critic: out('p__4') },
      },
      after,
    ]);
  });

  it('a whole workflow may be one top-level pattern (final step "main")', async () => {
    const wf = await valid({
      name: 'team',
      version: '0.1.0',
      pattern: 'sequential',
      agents: ['writer', 'editor'],
      input: { brief: 'x' },
    });
    expect(wf.pattern).toBe('sequential');
    expect(dag(wf)).toEqual([
      { id: 'main__1', agent: 'writer@*', needs: [], input: { brief: 'x' } },
      {
        id: 'main',
        agent: 'editor@*',
        needs: ['main__1'],
        input: { input: { brief: 'x' }, previous: out('main__1') },
      },
    ]);
  });
});

describe('consensus steps expand to parallel members and an aggregation step', () => {
  it('voting: builtin/consensus over the members, quorum defaulting to a strict majority', async () => {
    const wf = await valid(
      around({ type: 'consensus', strategy: 'voting', agents: ['writer', 'editor', 'critic'] }),
    );
    const results = [out('p__1'), out('p__2'), out('p__3')];
    expect(dag(wf)).toEqual([
      start,
      { id: 'p__1', agent: 'writer@*', needs: ['start'], input: I },
      { id: 'p__2', agent: 'editor@*', needs: ['start'], input: I },
      { id: 'p__3', agent: 'critic@*', needs: ['start'], input: I },
      {
        id: 'p',
        agent: 'builtin/consensus@*',
        needs: ['p__1', 'p__2', 'p__3'],
        input: { strategy: 'voting', quorum: 2, results },
      },
      after,
    ]);
    expect(wf.steps[4]?.consensus).toEqual({
      strategy: 'voting',
      members: ['p__1', 'p__2', 'p__3'],
      quorum: 2,
      on_no_quorum: 'fail',
      trust: { agree: 0.01, dissent: -0.02 },
    });
    expect(wf.steps[4]?.origin).toEqual({ kind: 'consensus', step: 'p', role: 'aggregate' });
    const explicit = await valid(
      around({ type: 'consensus', strategy: 'voting', quorum: 3, agents: ['writer', 'editor', 'critic'] }),
    );
    expect(explicit.steps[4]?.input.quorum).toBe(3);
  });

  it('judge_based: the judge gets the candidates and the original input', async () => {
    const wf = await valid(
      around({ type: 'consensus', strategy: 'judge_based', agents: ['writer', 'editor'], judge: 'judge@^3' }),
    );
    expect(dag(wf)).toEqual([
      start,
      { id: 'p__1', agent: 'writer@*', needs: ['start'], input: I },
      { id: 'p__2', agent: 'editor@*', needs: ['start'], input: I },
      {
        id: 'p',
        agent: 'judge@^3',
        needs: ['p__1', 'p__2'],
        input: { strategy: 'judge_based', candidates: [out('p__1'), out('p__2')], input: I },
      },
      after,
    ]);
    expect(wf.steps[3]?.consensus).toEqual({
      strategy: 'judge_based',
      members: ['p__1', 'p__2'],
      trust: { agree: 0.01, dissent: -0.02 },
    });
  });

  it('mixture_of_agents: the aggregator gets the proposals and the original input', async () => {
    const wf = await valid(
      around({
        type: 'consensus',
        strategy: 'mixture_of_agents',
        agents: ['writer', 'critic'],
        judge: 'judge',
      }),
    );
    expect(wf.steps[3]).toMatchObject({
      id: 'p',
      agent: { name: 'judge', range: '*' },
      input: { strategy: 'mixture_of_agents', proposals: [out('p__1'), out('p__2')], input: I },
      consensus: { strategy: 'mixture_of_agents', members: ['p__1', 'p__2'], trust: false },
    });
  });

  it('mixture_of_agents with two layers: each layer refines the one before; aggregator is an alias of judge', async () => {
    const wf = await valid(
      around({
        type: 'consensus',
        strategy: 'mixture_of_agents',
        agents: ['writer', 'critic'],
        layers: [['editor', 'critic'], ['editor']],
        aggregator: 'judge',
      }),
    );
    expect(dag(wf)).toEqual([
      start,
      { id: 'p__1', agent: 'writer@*', needs: ['start'], input: I },
      { id: 'p__2', agent: 'critic@*', needs: ['start'], input: I },
      {
        id: 'p__3',
        agent: 'editor@*',
        needs: ['p__1', 'p__2'],
        input: { input: I, proposals: [out('p__1'), out('p__2')] },
      },
      {
        id: 'p__4',
        agent: 'critic@*',
        needs: ['p__1', 'p__2'],
        input: { input: I, proposals: [out('p__1'), out('p__2')] },
      },
      {
        id: 'p__5',
        agent: 'editor@*',
        needs: ['p__3', 'p__4'],
        input: { input: I, proposals: [out('p__3'), out('p__4')] },
      },
      {
        id: 'p',
        agent: 'judge@*',
        needs: ['p__5'],
        input: { strategy: 'mixture_of_agents', input: I, proposals: [out('p__5')] },
      },
      after,
    ]);
    expect(wf.steps[6]?.consensus).toEqual({
      strategy: 'mixture_of_agents',
      members: ['p__1', 'p__2'],
      layers: [['p__3', 'p__4'], ['p__5']],
      trust: false,
    });
    expect(wf.steps[3]?.origin).toEqual({ kind: 'consensus', step: 'p', role: 'layer' });
  });

  it('weighted: builtin/consensus with no quorum by default (more than half the weight), trust amounts as written', async () => {
    const wf = await valid(
      around({
        type: 'consensus',
        strategy: 'weighted',
        agents: ['writer', 'editor'],
        trust: { dissent: -0.1 },
      }),
    );
    expect(wf.steps[3]).toMatchObject({
      id: 'p',
      agent: { name: 'builtin/consensus', range: '*' },
      input: { strategy: 'weighted', results: [out('p__1'), out('p__2')] },
      consensus: {
        strategy: 'weighted',
        members: ['p__1', 'p__2'],
        on_no_quorum: 'fail',
        trust: { agree: 0.01, dissent: -0.1 },
      },
    });
    expect(wf.steps[3]?.consensus?.quorum).toBeUndefined();
    const off = await valid(
      around({
        type: 'consensus',
        strategy: 'weighted',
        agents: ['writer', 'editor'],
        quorum: 0.75,
        trust: false,
      }),
    );
    expect(off.steps[3]?.consensus).toMatchObject({ quorum: 0.75, trust: false });
    expect(off.steps[3]?.input.quorum).toBe(0.75);
  });
});
