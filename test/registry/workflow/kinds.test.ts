import { describe, expect, it } from 'vitest';
import { issues, valid } from './helpers.js';

const base = { name: 'wf', version: '1.0.0' };
const wf = (...steps: unknown[]) => ({ ...base, steps });

describe('rules that depend on which kind of step it is, and the top level', () => {
  it('step kinds: exactly one of agent/capability/pattern/consensus and the fields each allows', async () => {
    const found = await issues(
      wf(
        { id: 'a', agent: 'writer', capability: 'data:fetch' },
        { id: 'b' },
        { id: 'c', agent: 'writer', routing: 'fastest', agents: ['editor'], rounds: 2, judge: 'judge' },
        { id: 'd', pattern: 'sequential', rounds: 2, for_each: 'variables.x' },
        { id: 'e', pattern: 'hierarchical', agents: ['writer'] },
        { id: 'f', pattern: 'concurrent' },
      ),
    );
    expect(found).toEqual([
      {
        field: 'steps[0]',
        message:
          'must have exactly one of agent, capability, pattern, wait_for or type: consensus (has agent, capability)',
      },
      {
        field: 'steps[1]',
        message:
          'must have exactly one of agent, capability, pattern, wait_for or type: consensus (has none)',
      },
      { field: 'steps[2].routing', message: 'only allowed with capability' },
      { field: 'steps[2].agents', message: 'only allowed on pattern and consensus steps' },
      { field: 'steps[2].rounds', message: 'only allowed with pattern round_robin, mesh or selector' },
      { field: 'steps[2].judge', message: 'only allowed on consensus steps (type: consensus)' },
      { field: 'steps[3].rounds', message: 'only allowed with pattern round_robin, mesh or selector' },
      {
        field: 'steps[3].for_each',
        message: expect.stringContaining('not allowed on pattern and consensus steps'),
      },
      { field: 'steps[3].agents', message: 'is required for a pattern step' },
      {
        field: 'steps[4].agents',
        message: 'hierarchical needs a coordinator and at least one worker (2 agents or more)',
      },
      { field: 'steps[5].agents', message: 'is required for a pattern step' },
    ]);
  });

  it('consensus: at least two agents, strategy, judge rules, quorum', async () => {
    const c = { type: 'consensus' };
    const found = await issues(
      wf(
        { id: 'a', ...c, agents: ['writer'], strategy: 'voting' },
        { id: 'b', ...c, agents: ['writer', 'editor'] },
        { id: 'c', ...c, agents: ['writer', 'editor'], strategy: 'voting', judge: 'judge', quorum: 3 },
        { id: 'd', ...c, agents: ['writer', 'editor'], strategy: 'judge_based', quorum: 1 },
        { id: 'e', ...c, agents: ['writer', 'ghost'], strategy: 'mixture_of_agents', judge: 'judge@^9' },
      ),
    );
    expect(found).toEqual([
      { field: 'steps[0].agents', message: 'a consensus needs at least 2 agents' },
      { field: 'steps[1].strategy', message: 'is required for a consensus step' },
      {
        field: 'steps[2].judge',
        message: 'not allowed with strategy voting (the members vote; there is no judge)',
      },
      { field: 'steps[2].quorum', message: 'must be at most the number of agents (2)' },
      { field: 'steps[3].quorum', message: 'only allowed with strategy voting or weighted' },
      { field: 'steps[3].judge', message: 'is required for strategy judge_based' },
      { field: 'steps[4].agents[1]', message: 'unknown agent "ghost"' },
      { field: 'steps[4].judge', message: 'no version of "judge" satisfies "^9"' },
    ]);
  });

  it('consensus strategies: weighted quorum, layers, aggregator, on_no_quorum and trust', async () => {
    const c = { type: 'consensus', agents: ['writer', 'editor'] };
    const found = await issues(
      wf(
        { id: 'a', ...c, strategy: 'weighted', quorum: 1.5 },
        { id: 'b', ...c, strategy: 'voting', quorum: 1.5, layers: [['writer']] },
        { id: 'c', ...c, strategy: 'judge_based', judge: 'judge', on_no_quorum: 'continue' },
        { id: 'd', ...c, strategy: 'mixture_of_agents', judge: 'judge', aggregator: 'judge', trust: false },
        { id: 'e', ...c, strategy: 'mixture_of_agents', layers: [['ghost']] },
        { id: 'f', ...c, strategy: 'voting', trust: { agree: 2 }, on_no_quorum: 'maybe' },
        { id: 'g', agent: 'writer', layers: [['writer']], trust: true },
      ),
    );
    expect(found).toEqual([
      {
        field: 'steps[0].quorum',
        message:
          'must be a fraction of the total trust weight, above 0 and at most 1, with strategy weighted',
      },
      { field: 'steps[1].quorum', message: 'must be a whole number of members with strategy voting' },
      { field: 'steps[1].layers', message: 'only allowed with strategy mixture_of_agents' },
      { field: 'steps[2].on_no_quorum', message: 'only allowed with strategy voting or weighted' },
      { field: 'steps[3].aggregator', message: 'use either judge or aggregator (they are the same)' },
      {
        field: 'steps[3].trust',
        message: 'not allowed with strategy mixture_of_agents (its proposers do not vote on one answer)',
      },
      { field: 'steps[4].layers[0][0]', message: 'unknown agent "ghost"' },
      { field: 'steps[4].judge', message: 'is required for strategy mixture_of_agents' },
      { field: 'steps[5].trust.agree', message: 'must be <= 1' },
      { field: 'steps[5].on_no_quorum', message: 'must be one of: fail, continue' },
      { field: 'steps[6].layers', message: 'only allowed on consensus steps (type: consensus)' },
      { field: 'steps[6].trust', message: 'must be false (or {agree, dissent})' },
      { field: 'steps[6].trust', message: 'only allowed on consensus steps (type: consensus)' },
    ]);
    // A weighted quorum in range, with on_no_quorum and partial trust amounts, is accepted.
    const ok = await valid(
      wf({
        id: 'a',
        ...c,
        strategy: 'weighted',
        quorum: 0.6,
        on_no_quorum: 'continue',
        trust: { agree: 0.1 },
      }),
    );
    expect(ok.steps.at(-1)?.consensus).toMatchObject({ quorum: 0.6, trust: { agree: 0.1, dissent: -0.02 } });
  });

  it('top level: steps and pattern together, pattern fields without a pattern', async () => {
    expect(
      await issues({
        ...base,
        pattern: 'sequential',
        agents: ['writer'],
        steps: [{ id: 'a', agent: 'writer' }],
      }),
    ).toEqual([{ field: 'pattern', message: 'use either steps or a top-level pattern + agents, not both' }]);
    expect(await issues({ ...base, agents: ['writer'], steps: [{ id: 'a', agent: 'writer' }] })).toEqual([
      { field: 'agents', message: 'only allowed with a top-level pattern' },
    ]);
    expect(await issues({ ...base, pattern: 'mesh', agents: ['writer', 'ghost'], rounds: 0 })).toEqual([
      { field: 'agents[1]', message: 'unknown agent "ghost"' },
      { field: 'rounds', message: 'must be >= 1' },
    ]);
  });

  it('retry: max_delay_ms below initial_delay_ms', async () => {
    expect(
      await issues(wf({ id: 'a', agent: 'writer', retry: { initial_delay_ms: 5000, max_delay_ms: 100 } })),
    ).toEqual([
      { field: 'steps[0].retry.max_delay_ms', message: 'must be at least initial_delay_ms (5000)' },
    ]);
  });

  it('on_error / on_success handlers are checked like steps', async () => {
    const found = await issues({
      ...wf({ id: 'a', agent: 'writer' }),
      on_error: { agent: 'ghost', input: { x: '{{ steps.zz.output }}' } },
      on_success: [{ agent: 'writer' }, { input: {} }],
    });
    expect(found).toEqual([
      { field: 'on_error.agent', message: 'unknown agent "ghost"' },
      { field: 'on_error.input.x', message: 'refers to unknown step "zz"' },
      { field: 'on_success[1].agent', message: 'is required' },
    ]);
  });
});
