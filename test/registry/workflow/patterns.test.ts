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

  // Decided at run time (src/runtimes/orchestration): one builtin/orchestrate step keeps the id.
  const orchestrator = (input: Record<string, unknown>) => [
    start,
    { id: 'p', agent: 'builtin/orchestrate@*', needs: ['start'], input: { input: I, ...input } },
    after,
  ];
  // Each turn is retried as the step would be (retry.max_attempts 3 → 2 retries).
  const child = { max_retries: 2 };

  it('hierarchical: one orchestrator step with the coordinator, the pool and the caps', async () => {
    const wf = await valid(around({ pattern: 'hierarchical', agents: ['writer', 'editor', 'critic'] }));
    expect(dag(wf)).toEqual(
      orchestrator({
        pattern: 'hierarchical',
        coordinator: 'writer@*',
        pool: [{ agent: 'editor@*' }, { agent: 'critic@*' }],
        max_rounds: 5,
        max_subtasks: 20,
        max_depth: 2,
        depth: 0,
        allow_self_delegation: false,
        ...child,
      }),
    );
    expect(wf.steps[1]?.origin).toEqual({
      kind: 'pattern',
      step: 'p',
      pattern: 'hierarchical',
      role: 'orchestrator',
    });
    const pooled = await valid(
      around({
        pattern: 'hierarchical',
        coordinator: 'writer',
        pool: ['editor', { agent: 'critic', delegates: true }],
        max_rounds: 2,
      }),
    );
    expect(dag(pooled)[1]?.input).toMatchObject({
      coordinator: 'writer@*',
      pool: [{ agent: 'editor@*' }, { agent: 'critic@*', delegates: true }],
      max_rounds: 2,
    });
  });

  it('round_robin and mesh: one orchestrator step; rounds is an alias of max_rounds', async () => {
    const rr = await valid(
      around({ pattern: 'round_robin', agents: ['writer', 'critic'], rounds: 2, until: 'last.done' }),
    );
    expect(dag(rr)).toEqual(
      orchestrator({
        pattern: 'round_robin',
        agents: ['writer@*', 'critic@*'],
        max_rounds: 2,
        window: 20,
        until: 'last.done',
        ...child,
      }),
    );
    const mesh = await valid(around({ pattern: 'mesh', agents: ['writer', 'critic'] }));
    expect(dag(mesh)[1]?.input).toMatchObject({ pattern: 'mesh', max_rounds: 3 });
  });

  it('selector and handoff: one orchestrator step with their own settings', async () => {
    const sel = await valid(
      around({ pattern: 'selector', agents: ['writer', 'critic'], selector: { expression: '"critic"' } }),
    );
    expect(dag(sel)[1]?.input).toMatchObject({
      pattern: 'selector',
      selector: { expression: '"critic"' },
      max_rounds: 10,
    });
    const ho = await valid(around({ pattern: 'handoff', agents: ['writer', 'critic'], max_handoffs: 4 }));
    expect(dag(ho)[1]?.input).toEqual({
      input: I,
      pattern: 'handoff',
      agents: ['writer@*', 'critic@*'],
      max_handoffs: 4,
      max_ping_pong: 3,
      window: 20,
      ...child,
    });
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
