import type { FieldIssue } from '../../errors/index.js';
import { misplacedDynamicFields, readDynamic, type DynamicSpec } from './dynamic-source.js';
import { fieldOf } from './schema.js';
import { STEP_ID, int, obj, parseAgentRef, readRetry, str, type Json } from './refs.js';
import {
  isBudget,
  isDynamicPattern,
  type AgentRef,
  type Budget,
  type ConsensusStrategy,
  type OrchestrationPattern,
  type RetryPolicy,
  type RoutingStrategy,
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
  readonly judge?: Located<AgentRef>;
  readonly quorum?: number;
  readonly input: Json;
  readonly inputField: string;
  readonly needs: readonly Located<string>[];
  readonly when?: Located<string>;
  readonly forEach?: Located<string>;
  readonly retry: RetryPolicy;
  readonly timeout_seconds?: number;
  readonly priority: number;
  readonly budget?: Budget;
  /** Patterns run at run time (DYNAMIC_PATTERNS): their caps, pool, stop condition… */
  readonly dynamic?: DynamicSpec;
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
  const present: StepKind[] = [];
  if (raw.agent !== undefined) present.push('agent');
  if (raw.capability !== undefined) present.push('capability');
  if (raw.pattern !== undefined) present.push('pattern');
  // Any other `type` is Ajv's enum error; counting it here too would report the step twice.
  if (raw.type === 'consensus') present.push('consensus');
  const kind = present.length === 1 ? present[0]! : null;
  if (kind === null) {
    const has =
      present.length === 0 ? 'none' : present.map((k) => (k === 'consensus' ? 'type' : k)).join(', ');
    issues.push({
      field: at,
      message: `must have exactly one of agent, capability, pattern or type: consensus (has ${has})`,
    });
  }
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
  let judge: Located<AgentRef> | undefined;
  const quorum = int(raw.quorum);
  if (kind === 'consensus') {
    if (agents.length === 1)
      issues.push({ field: f('agents'), message: 'a consensus needs at least 2 agents' });
    if (raw.strategy === undefined)
      issues.push({ field: f('strategy'), message: 'is required for a consensus step' });
    if (strategy === 'voting' && raw.judge !== undefined) {
      issues.push({
        field: f('judge'),
        message: 'not allowed with strategy voting (the members vote; there is no judge)',
      });
    } else if (strategy !== undefined && strategy !== 'voting' && raw.judge === undefined) {
      issues.push({ field: f('judge'), message: `is required for strategy ${strategy}` });
    }
    if (raw.quorum !== undefined && strategy !== undefined && strategy !== 'voting') {
      issues.push({ field: f('quorum'), message: 'only allowed with strategy voting' });
    } else if (quorum !== undefined && agents.length > 0 && quorum > agents.length) {
      issues.push({ field: f('quorum'), message: `must be at most the number of agents (${agents.length})` });
    }
    judge = agentAt(raw.judge, f('judge'), issues);
  }
  const { retry, issue } = readRetry(raw.retry, f('retry'));
  if (issue) issues.push(issue);
  const needs = Array.isArray(raw.needs) ? raw.needs : [];
  return {
    id: fixedId ?? checkId(raw.id, f('id'), 'step', issues),
    idField: f('id'),
    at,
    fromNode: false,
    kind,
    name: str(raw.name),
    agent: kind === 'agent' ? agentAt(raw.agent, f('agent'), issues) : undefined,
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
    judge,
    quorum,
    input: obj(raw.input),
    inputField: f('input'),
    needs: needs.flatMap((n, i) => located(n, fieldOf(f('needs'), i)) ?? []),
    when: located(raw.when, f('when')),
    forEach: located(raw.for_each, f('for_each')),
    retry,
    timeout_seconds: int(raw.timeout_seconds),
    priority: int(raw.priority) ?? 5,
    ...(isBudget(raw.budget) ? { budget: raw.budget } : {}),
    ...(dynamic === undefined ? {} : { dynamic }),
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
