import { dynamicInput } from './dynamic-input.js';
import type { SourceStep } from './source.js';
import { waitForInput } from './wait-for.js';
import type { AgentRef, ConsensusSpec, NormalizedStep, StepRole } from './types.js';

/**
 * Expands one validated source step into the steps the engine runs. Patterns and consensus are
 * ordinary durable steps, so each member is retried, recorded and resumable on its own.
 *
 * Ids: generated steps are `<id>__1`, `<id>__2`, … in the order below, and the LAST step keeps
 * `<id>`, so `needs: [<id>]` and `steps.<id>.output` downstream see the pattern's final result.
 * The first steps inherit the source step's `needs`; every generated step copies its `when`,
 * `retry`, `timeout_seconds` and `priority`. `I` is the step's input mapping as written.
 *
 * - hierarchical, round_robin, selector, mesh, handoff (DYNAMIC_PATTERNS): ONE step `<id>` run by
 *   builtin/orchestrate (role `orchestrator`), whose input is the pattern's settings and
 *   `input: I` (see dynamic-input.ts). Who speaks, how often and to whom is decided at run time;
 *   each turn is a durable child task of that step (src/runtimes/orchestration).
 * - sequential [a1…an]: a chain. a1 gets I; each later ak gets `{input: I, previous: <output
 *   of the step before>}`; an keeps `<id>`.
 * - concurrent [a1…an]: all in parallel on I, then a join `<id>` (builtin/transform) whose input
 *   is `{"<a1 name>": <a1 output>, …}`.
 * - consensus [m1…mn]: members (role `member`) in parallel on I, then the aggregation `<id>`
 *   (role `aggregate`), marked `consensus` (strategy, member ids, quorum, on_no_quorum, layers,
 *   trust: what the engine decides and records by, src/engine/consensus.ts):
 *   voting / weighted → builtin/consensus with `{strategy, quorum, results: [<outputs>]}`
 *   (voting's quorum default: a strict majority; weighted's: more than half the weight);
 *   judge_based → the judge with `{strategy, candidates: [<outputs>], input: I}`;
 *   mixture_of_agents → each of `layers` in turn (role `layer`, in parallel, each agent on
 *   `{input: I, proposals: [<outputs of the layer before>]}`), then the aggregator with
 *   `{strategy, input: I, proposals: [<outputs of the last layer>]}`.
 *
 * Maps keyed by agent name suffix repeats `#2`, `#3` (the same agent may appear twice).
 * The generated agents builtin/transform and builtin/consensus are Swarm's; they are not
 * looked up when validating.
 */

const TRANSFORM: AgentRef = { name: 'builtin/transform', range: '*' };
const CONSENSUS: AgentRef = { name: 'builtin/consensus', range: '*' };
const ORCHESTRATE: AgentRef = { name: 'builtin/orchestrate', range: '*' };

const output = (id: string): string => `{{ steps.${id}.output }}`;

interface Member {
  readonly id: string;
  readonly agent: AgentRef;
}

/** `{"<agent name>": "{{ steps.<member>.output }}", …}`, repeats suffixed `#2`, `#3`. */
function keyed(members: readonly Member[]): Record<string, string> {
  const out: Record<string, string> = {};
  const seen = new Map<string, number>();
  for (const m of members) {
    const n = (seen.get(m.agent.name) ?? 0) + 1;
    seen.set(m.agent.name, n);
    out[n === 1 ? m.agent.name : `${m.agent.name}#${n}`] = output(m.id);
  }
  return out;
}

type Add = (
  agent: AgentRef,
  input: Record<string, unknown>,
  needs: readonly string[],
  role: StepRole,
  last?: boolean,
) => Member;

/** The steps of a consensus (see the header); the aggregate step is added last. */
function expandConsensus(step: SourceStep, agents: readonly AgentRef[], first: string[], add: Add): void {
  const I = step.input;
  const members = agents.map((a) => add(a, I, first, 'member'));
  let ids = members.map((m) => m.id);
  if (step.strategy === 'voting' || step.strategy === 'weighted') {
    const quorum =
      step.quorum ?? (step.strategy === 'voting' ? Math.floor(agents.length / 2) + 1 : undefined);
    const input = {
      strategy: step.strategy,
      ...(quorum === undefined ? {} : { quorum }),
      results: ids.map(output),
    };
    add(CONSENSUS, input, ids, 'aggregate', true);
    return;
  }
  if (step.strategy === 'judge_based') {
    add(
      step.judge!.value,
      { strategy: step.strategy, candidates: ids.map(output), input: I },
      ids,
      'aggregate',
      true,
    );
    return;
  }
  // mixture_of_agents: each aggregation layer refines the previous layer's proposals.
  for (const layer of step.layers ?? []) {
    const proposals = ids.map(output);
    ids = layer.map((a) => add(a.value, { input: I, proposals }, ids, 'layer').id);
  }
  add(
    step.judge!.value,
    { strategy: step.strategy, input: I, proposals: ids.map(output) },
    ids,
    'aggregate',
    true,
  );
}

/** The aggregate step's `consensus`: member ids (and layers) read back from the steps made. */
function consensusSpec(step: SourceStep, made: readonly NormalizedStep[]): ConsensusSpec {
  const members = made.filter((s) => s.origin?.role === 'member').map((s) => s.id);
  const layerIds = made.filter((s) => s.origin?.role === 'layer').map((s) => s.id);
  const layers: string[][] = [];
  let at = 0;
  for (const layer of step.layers ?? []) {
    layers.push(layerIds.slice(at, at + layer.length));
    at += layer.length;
  }
  const strategy = step.strategy!;
  const voted = strategy === 'voting' || strategy === 'weighted';
  const quorum = step.quorum ?? (strategy === 'voting' ? Math.floor(members.length / 2) + 1 : undefined);
  return {
    strategy,
    members,
    ...(voted && quorum !== undefined ? { quorum } : {}),
    ...(voted ? { on_no_quorum: step.onNoQuorum ?? 'fail' } : {}),
    ...(layers.length > 0 ? { layers } : {}),
    ...(step.trust === undefined ? {} : { trust: step.trust }),
  };
}

export function expandStep(step: SourceStep): NormalizedStep[] {
  const I = step.input;
  const common = {
    ...(step.when ? { when: step.when.value } : {}),
    retry: step.retry,
    ...(step.timeout_seconds !== undefined ? { timeout_seconds: step.timeout_seconds } : {}),
    priority: step.priority,
    ...(step.budget !== undefined ? { budget: step.budget } : {}),
  };
  if (step.kind === 'agent' || step.kind === 'capability') {
    return [
      {
        id: step.id,
        ...(step.flow !== undefined && step.flow.limits.length > 0 ? { flow: step.flow.limits } : {}),
        ...(step.name !== undefined ? { name: step.name } : {}),
        ...(step.agent ? { agent: step.agent.value } : {}),
        ...(step.capability ? { capability: { name: step.capability.value, routing: step.routing } } : {}),
        input: step.waitFor === undefined ? I : waitForInput(I, step.waitFor, step.forEach !== undefined),
        needs: [...new Set(step.needs.map((n) => n.value))],
        ...(step.forEach ? { for_each: step.forEach.value } : {}),
        ...common,
        ...(step.fromNode ? { origin: { kind: 'node' as const, step: step.id, role: 'node' as const } } : {}),
      },
    ];
  }
  const agents = step.members.map((m) => m.value);
  const kind = step.kind === 'consensus' ? ('consensus' as const) : ('pattern' as const);
  const origin = (role: StepRole) => ({
    kind,
    step: step.id,
    ...(step.pattern ? { pattern: step.pattern } : {}),
    role,
  });
  const out: NormalizedStep[] = [];
  let counter = 0;
  const add = (
    agent: AgentRef,
    input: Record<string, unknown>,
    needs: readonly string[],
    role: StepRole,
    last = false,
  ): Member => {
    const id = last ? step.id : `${step.id}__${++counter}`;
    const named = last && step.name !== undefined ? { name: step.name } : {};
    out.push({ id, ...named, agent, input, needs: [...needs], ...common, origin: origin(role) });
    return { id, agent };
  };
  const first = [...new Set(step.needs.map((n) => n.value))];
  const n = agents.length;

  if (step.kind === 'pattern' && step.dynamic !== undefined) {
    add(ORCHESTRATE, dynamicInput(step, step.dynamic), first, 'orchestrator', true);
    return out;
  }

  if (step.kind === 'consensus') {
    expandConsensus(step, agents, first, add);
    const last = out.pop()!;
    out.push({ ...last, consensus: consensusSpec(step, out) });
    return out;
  }

  switch (step.pattern) {
    case 'sequential': {
      let prev: Member | undefined;
      for (let t = 0; t < n; t++) {
        const input = prev ? { input: I, previous: output(prev.id) } : I;
        prev = add(agents[t]!, input, prev ? [prev.id] : first, 'member', t === n - 1);
      }
      return out;
    }
    case 'concurrent': {
      const members = agents.map((a) => add(a, I, first, 'member'));
      add(
        TRANSFORM,
        keyed(members),
        members.map((m) => m.id),
        'join',
        true,
      );
      return out;
    }
    default:
      return out;
  }
}
