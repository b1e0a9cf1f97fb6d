import type { FieldIssue } from '../../errors/index.js';
import { misplacedDynamicFields, readDynamic, type DynamicSpec } from './dynamic-source.js';
import { fieldOf } from './schema.js';
import { STEP_ID, int, obj, parseAgentRef, readRetry, str, type Json } from './refs.js';
import { readWaitFor, type WaitForSource } from './wait-for.js';
import { readStepFlow } from './flow.js';
import {
  DEFAULT_CONSENSUS_TRUST,
  isBudget,
  isDynamicPattern,
  type AgentRef,
  type Budget,
  type ConsensusStrategy,
  type ConsensusTrust,
  type OrchestrationPattern,
  type RetryPolicy,
  type RoutingStrategy,
  type StepFlowLimit,
} from './types.js';

/**
 * A step as written, before expansion, with the exact source field of everything that can be
 * wrong (`steps[2].needs[0]`, `nodes[1].type`, `edges[3][0]`). The graph, expression and agent
 * checks run on these, so every message names the place the user wrote, not a generated step.
 */

export type StepKind = 'agent' | 'capability' | 'pattern' | 'consensus';

export interface Located<T> {
  readonly value: T;
  readonly field: string;
}

export interface SourceStep {
  /** As written ('' when missing); invalid ids are reported and still take part in the graph. */
  readonly id: string;
  readonly idField: string;
  /** Where the step is written: `steps[2]`, `nodes[1]`, or '' for a top-level pattern. */
  readonly at: string;
  readonly fromNode: boolean;
  /** null when the step names no kind or several (already reported). */
  readonly kind: StepKind | null;
  readonly name?: string;
  /** The agent (agent steps) or capability (capability steps); unset when invalid (reported). */
  readonly agent?: Located<AgentRef>;
  readonly capability?: Located<string>;
  readonly routing: RoutingStrategy;
  readonly pattern?: OrchestrationPattern;
  /** Pattern and consensus agents, in order; invalid references are reported and left out. */
  readonly members: readonly Located<AgentRef>[];
  readonly rounds: number;
  readonly strategy?: ConsensusStrategy;
  /** The judge (judge_based) or the aggregator (mixture_of_agents; `aggregator` is an alias). */
  readonly judge?: Located<AgentRef>;
  readonly quorum?: number;
  readonly onNoQuorum?: 'fail' | 'continue';
  /** mixture_of_agents: the aggregation layers' agents, in order. */
  readonly layers?: readonly (readonly Located<AgentRef>[])[];
  /** Consensus trust moves: the step's amounts, defaults filled; false when turned off. */
  readonly trust?: ConsensusTrust | false;
  readonly input: Json;
  readonly inputField: string;
  readonly needs: readonly Located<string>[];
  readonly when?: Located<string>;
  readonly forEach?: Located<string>;
  readonly retry: RetryPolicy;
  readonly timeout_seconds?: number;
  readonly priority: number;
  readonly budget?: Budget;
  /** Flow control: the step's limits, and their key expressions located for checking. */
  readonly flow?: { readonly limits: readonly StepFlowLimit[]; readonly keys: readonly Located<string>[] };
  /** Patterns run at run time (DYNAMIC_PATTERNS): their caps, pool, stop condition… */
  readonly dynamic?: DynamicSpec;
  /** A `wait_for` step (an agent step running builtin/wait_for_event): its match, located. */
  readonly waitFor?: WaitForSource;
}

export interface SourceHandler {
  readonly agent?: Located<AgentRef>;
  readonly input: Json;
  readonly inputField: string;
}

/** Parses an agent reference at `field`, reporting a bad one. */
export function agentAt(value: unknown, field: string, issues: FieldIssue[]): Located<AgentRef> | undefined {
  if (typeof value !== 'string') return undefined;
  const ref = parseAgentRef(value);
  if (typeof ref === 'string') {
    issues.push({ field, message: ref });
    return undefined;
  }
  return { value: ref, field };
}

/** Checks a step or node id: a JSONata-safe name, with `__` kept for generated steps. */
export function checkId(id: unknown, field: string, noun: string, issues: FieldIssue[]): string {
  if (typeof id !== 'string') return '';
  if (!STEP_ID.test(id)) {
    issues.push({
      field,
      message: `invalid ${noun} id "${id}": use lowercase letters, digits and "_", starting with a letter (it is written steps.<id>.output in expressions)`,
    });
  } else if (id.includes('__')) {
    issues.push({
      field,
      message: `invalid ${noun} id "${id}": "__" is reserved for steps generated from patterns and consensus`,
    });
  }
  return id;
}

function located(value: unknown, field: string): Located<string> | undefined {
  return typeof value === 'string' ? { value, field } : undefined;
}

/** The fields only some kinds accept, and which kinds. */
const ONLY_FOR: Record<string, { kinds: readonly StepKind[]; message: string }> = {
  routing: { kinds: ['capability'], message: 'only allowed with capability' },
  agents: { kinds: ['pattern', 'consensus'], message: 'only allowed on pattern and consensus steps' },
  strategy: { kinds: ['consensus'], message: 'only allowed on consensus steps (type: consensus)' },
  judge: { kinds: ['consensus'], message: 'only allowed on consensus steps (type: consensus)' },
  quorum: { kinds: ['consensus'], message: 'only allowed on consensus steps (type: consensus)' },
  aggregator: { kinds: ['consensus'], message: 'only allowed on consensus steps (type: consensus)' },
  layers: { kinds: ['consensus'], message: 'only allowed on consensus steps (type: consensus)' },
  on_no_quorum: { kinds: ['consensus'], message: 'only allowed on consensus steps (type: consensus)' },
  trust: { kinds: ['consensus'], message: 'only allowed on consensus steps (type: consensus)' },
  concurrency: {
    kinds: ['agent', 'capability'],
    message: 'not allowed on pattern and consensus steps (they expand to several steps)',
  },
  rate_limit: {
    kinds: ['agent', 'capability'],
    message: 'not allowed on pattern and consensus steps (they expand to several steps)',
  },
  rounds: { kinds: ['pattern'], message: 'only allowed with pattern round_robin, mesh or selector' },
  for_each: {
    kinds: ['agent', 'capability'],
    message:
      'not allowed on pattern and consensus steps (they expand to several steps); put for_each on a step of its own',
  },
};

/** Reads `raw` (a step, or the document itself for a top-level pattern) written at `at`. */
export function readStep(raw: Json, at: string, issues: FieldIssue[], fixedId?: string): SourceStep {
  const f = (key: string): string => fieldOf(at, key);
  const present: (StepKind | 'wait_for')[] = [];
  if (raw.agent !== undefined) present.push('agent');
  if (raw.capability !== undefined) present.push('capability');
  if (raw.pattern !== undefined) present.push('pattern');
  // Any other `type` is Ajv's enum error; counting it here too would report the step twice.
  if (raw.type === 'consensus') present.push('consensus');
  if (raw.wait_for !== undefined) present.push('wait_for');
  const only = present.length === 1 ? present[0]! : null;
  // A wait_for step is an agent step: builtin/wait_for_event with the wait as its input.
  const kind: StepKind | null = only === 'wait_for' ? 'agent' : only;
  if (kind === null) {
    const has =
      present.length === 0 ? 'none' : present.map((k) => (k === 'consensus' ? 'type' : k)).join(', ');
    issues.push({
      field: at,
      message: `must have exactly one of agent, capability, pattern, wait_for or type: consensus (has ${has})`,
    });
  }
  const waiting = only === 'wait_for' ? readWaitFor(raw, at, issues) : undefined;
  for (const [key, rule] of Object.entries(ONLY_FOR)) {
    if (raw[key] !== undefined && kind !== null && !rule.kinds.includes(kind))
      issues.push({ field: f(key), message: rule.message });
  }
  const pattern = str(raw.pattern) as OrchestrationPattern | undefined;
  const strategy = str(raw.strategy) as ConsensusStrategy | undefined;
  const agents = Array.isArray(raw.agents) ? raw.agents : [];
  const members = agents.flatMap((a, i) => agentAt(a, fieldOf(f('agents'), i), issues) ?? []);
  const coordinated = pattern === 'hierarchical' && (raw.coordinator !== undefined || raw.pool !== undefined);
  if ((kind === 'pattern' || kind === 'consensus') && raw.agents === undefined && !coordinated) {
    issues.push({ field: f('agents'), message: `is required for a ${kind} step` });
  }
  if (
    kind === 'pattern' &&
    raw.rounds !== undefined &&
    pattern !== 'round_robin' &&
    pattern !== 'mesh' &&
    pattern !== 'selector'
  ) {
    issues.push({ field: f('rounds'), message: ONLY_FOR.rounds!.message });
  }
  misplacedDynamicFields(raw, kind === 'pattern' ? pattern : undefined, at, issues);
  const dynamic =
    kind === 'pattern' && isDynamicPattern(pattern)
      ? readDynamic(raw, pattern, at, members, agentAt, issues)
      : undefined;
  if (kind === 'pattern' && pattern === 'hierarchical' && agents.length === 1) {
    issues.push({
      field: f('agents'),
      message: 'hierarchical needs a coordinator and at least one worker (2 agents or more)',
    });
  }
  const consensus =
    kind === 'consensus' ? readConsensus(raw, f, agents.length, strategy, issues) : { layers: [] };
  const { retry, issue } = readRetry(raw.retry, f('retry'));
  if (issue) issues.push(issue);
  const needs = Array.isArray(raw.needs) ? raw.needs : [];
  const flow =
    kind === 'agent' || kind === 'capability' ? readStepFlow(raw, at, kind === 'agent', issues) : undefined;
  return {
    id: fixedId ?? checkId(raw.id, f('id'), 'step', issues),
    idField: f('id'),
    at,
    fromNode: false,
    kind,
    name: str(raw.name),
    agent: waiting?.agent ?? (kind === 'agent' ? agentAt(raw.agent, f('agent'), issues) : undefined),
    capability: kind === 'capability' ? located(raw.capability, f('capability')) : undefined,
    routing: (str(raw.routing) as RoutingStrategy | undefined) ?? 'round_robin',
    pattern,
    members:
      dynamic?.pattern === 'hierarchical' && coordinated
        ? [
            ...(dynamic.coordinator ? [dynamic.coordinator] : []),
            ...dynamic.pool.flatMap((p) => (p.agent ? [p.agent] : [])),
          ]
        : members,
    rounds: int(raw.rounds) ?? 1,
    strategy,
    ...consensus,
    input: waiting?.input ?? obj(raw.input),
    inputField: waiting === undefined ? f('input') : f('wait_for'),
    needs: needs.flatMap((n, i) => located(n, fieldOf(f('needs'), i)) ?? []),
    when: located(raw.when, f('when')),
    forEach: located(raw.for_each, f('for_each')),
    retry,
    timeout_seconds: int(raw.timeout_seconds),
    priority: int(raw.priority) ?? 5,
    ...(isBudget(raw.budget) ? { budget: raw.budget } : {}),
    ...(flow === undefined ? {} : { flow }),
    ...(dynamic === undefined ? {} : { dynamic }),
    ...(waiting === undefined ? {} : { waitFor: waiting.waitFor }),
  };
}

type ConsensusFields = Pick<SourceStep, 'judge' | 'quorum' | 'onNoQuorum' | 'layers' | 'trust'>;

/**
 * A consensus step's own fields. Which strategy takes which: voting and weighted take `quorum`
 * and `on_no_quorum` (voting's quorum a count of members, weighted's a fraction of the total
 * trust weight); judge_based takes `judge`; mixture_of_agents takes `judge` or `aggregator` and
 * `layers`; all but mixture_of_agents take `trust`.
 */
function readConsensus(
  raw: Json,
  f: (key: string) => string,
  agentCount: number,
  strategy: ConsensusStrategy | undefined,
  issues: FieldIssue[],
): ConsensusFields {
  if (agentCount === 1) issues.push({ field: f('agents'), message: 'a consensus needs at least 2 agents' });
  if (raw.strategy === undefined) {
    issues.push({ field: f('strategy'), message: 'is required for a consensus step' });
    return { layers: [] };
  }
  if (strategy === undefined) return { layers: [] }; // not one of the strategies: Ajv's enum error
  const voted = strategy === 'voting' || strategy === 'weighted';
  const not = (key: string, message: string): void => {
    if (raw[key] !== undefined) issues.push({ field: f(key), message });
  };
  if (voted) {
    not('judge', `not allowed with strategy ${strategy} (the members vote; there is no judge)`);
    not('aggregator', `not allowed with strategy ${strategy} (the members vote; there is no aggregator)`);
  } else {
    not('quorum', 'only allowed with strategy voting or weighted');
    not('on_no_quorum', 'only allowed with strategy voting or weighted');
  }
  if (strategy !== 'mixture_of_agents') {
    not('layers', 'only allowed with strategy mixture_of_agents');
    if (!voted) not('aggregator', 'only allowed with strategy mixture_of_agents (judge_based has a judge)');
  } else {
    not('trust', 'not allowed with strategy mixture_of_agents (its proposers do not vote on one answer)');
    if (raw.judge !== undefined && raw.aggregator !== undefined)
      issues.push({ field: f('aggregator'), message: 'use either judge or aggregator (they are the same)' });
  }
  if (!voted && raw.judge === undefined && raw.aggregator === undefined)
    issues.push({ field: f('judge'), message: `is required for strategy ${strategy}` });

  const quorum = typeof raw.quorum === 'number' ? raw.quorum : undefined;
  if (quorum !== undefined && strategy === 'voting') {
    if (!Number.isInteger(quorum))
      issues.push({ field: f('quorum'), message: 'must be a whole number of members with strategy voting' });
    else if (agentCount > 0 && quorum > agentCount)
      issues.push({ field: f('quorum'), message: `must be at most the number of agents (${agentCount})` });
  } else if (quorum !== undefined && strategy === 'weighted' && quorum > 1) {
    issues.push({
      field: f('quorum'),
      message: 'must be a fraction of the total trust weight, above 0 and at most 1, with strategy weighted',
    });
  }
  const layers = (Array.isArray(raw.layers) ? raw.layers : []).map((layer, i) =>
    (Array.isArray(layer) ? layer : []).flatMap(
      (a, j) => agentAt(a, fieldOf(fieldOf(f('layers'), i), j), issues) ?? [],
    ),
  );
  const judge = agentAt(
    raw.judge ?? raw.aggregator,
    f(raw.judge !== undefined ? 'judge' : 'aggregator'),
    issues,
  );
  const trust =
    strategy === 'mixture_of_agents' || raw.trust === false
      ? false
      : {
          ...DEFAULT_CONSENSUS_TRUST,
          ...(typeof raw.trust === 'object' ? (raw.trust as Partial<ConsensusTrust>) : {}),
        };
  return {
    ...(judge === undefined ? {} : { judge }),
    ...(quorum === undefined ? {} : { quorum }),
    ...(raw.on_no_quorum === 'continue' || raw.on_no_quorum === 'fail'
      ? { onNoQuorum: raw.on_no_quorum }
      : {}),
    layers,
    trust,
  };
}

/** The id a top-level pattern's final step gets (its members are `main__1`, `main__2`, …). */
export const TOP_LEVEL_STEP_ID = 'main';

/** Steps of the steps form: a `steps` list, or one top-level pattern. */
export function readStepsForm(doc: Json, issues: FieldIssue[]): SourceStep[] {
  if (doc.pattern !== undefined && doc.steps !== undefined) {
    issues.push({ field: 'pattern', message: 'use either steps or a top-level pattern + agents, not both' });
  }
  if (doc.pattern === undefined) {
    for (const key of ['agents', 'input', 'rounds']) {
      if (doc[key] !== undefined)
        issues.push({ field: key, message: 'only allowed with a top-level pattern' });
    }
    if (doc.steps === undefined)
      issues.push({ field: 'steps', message: 'is required (or a top-level pattern + agents)' });
  }
  if (doc.pattern !== undefined) {
    const { pattern, agents, input, rounds } = doc;
    return [readStep({ pattern, agents, input, rounds }, '', issues, TOP_LEVEL_STEP_ID)];
  }
  const steps = Array.isArray(doc.steps) ? doc.steps : [];
  return steps.flatMap((raw, i) =>
    typeof raw === 'object' && raw !== null && !Array.isArray(raw)
      ? [readStep(raw as Json, `steps[${i}]`, issues)]
      : [],
  );
}

/** `on_error` / `on_success`: one handler or a list of them. */
export function readHandlers(value: unknown, at: string, issues: FieldIssue[]): SourceHandler[] | undefined {
  if (value === undefined) return undefined;
  const list = Array.isArray(value)
    ? value.map((h, i) => [h, fieldOf(at, i)] as const)
    : [[value, at] as const];
  return list.map(([raw, field]) => {
    const h = obj(raw);
    return {
      agent: agentAt(h.agent, fieldOf(field, 'agent'), issues),
      input: obj(h.input),
      inputField: fieldOf(field, 'input'),
    };
  });
}
