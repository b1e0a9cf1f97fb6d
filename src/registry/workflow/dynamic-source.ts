import type { FieldIssue } from '../../errors/index.js';
import { fieldOf } from './schema.js';
import { int, isObject, str, type Json } from './refs.js';
import type { Located } from './source.js';
import type { AgentRef, DynamicPattern, RoutingStrategy } from './types.js';

/**
 * The fields of the patterns Swarm runs at run time (hierarchical, round_robin, selector, mesh,
 * handoff), read from a step as written, with the field of everything that can be wrong. Which
 * field belongs to which pattern is checked here, so a misplaced one names the patterns it fits.
 */

/** A hierarchical pool member: an agent (that may itself coordinate) or a routed capability. */
export interface PoolEntry {
  readonly agent?: Located<AgentRef>;
  readonly capability?: Located<string>;
  readonly routing: RoutingStrategy;
  readonly delegates: boolean;
}

export interface DynamicSpec {
  readonly pattern: DynamicPattern;
  /** hierarchical: who plans (the `coordinator` field, or the first of `agents`). */
  readonly coordinator?: Located<AgentRef>;
  readonly pool: readonly PoolEntry[];
  readonly maxRounds: number;
  readonly maxSubtasks: number;
  readonly maxDepth: number;
  readonly allowSelfDelegation: boolean;
  readonly until?: Located<string>;
  readonly window: number;
  readonly selector?: { readonly agent?: Located<AgentRef>; readonly expression?: Located<string> };
  readonly maxHandoffs: number;
  readonly maxPingPong: number;
}

type AgentAt = (value: unknown, field: string, issues: FieldIssue[]) => Located<AgentRef> | undefined;

/** Which patterns accept each field. */
const FOR: Record<string, readonly DynamicPattern[]> = {
  coordinator: ['hierarchical'],
  pool: ['hierarchical'],
  max_subtasks: ['hierarchical'],
  max_depth: ['hierarchical'],
  allow_self_delegation: ['hierarchical'],
  max_rounds: ['hierarchical', 'round_robin', 'selector', 'mesh'],
  until: ['round_robin', 'selector', 'mesh'],
  window: ['round_robin', 'selector', 'mesh', 'handoff'],
  selector: ['selector'],
  max_handoffs: ['handoff'],
  max_ping_pong: ['handoff'],
};

/** Reports fields of the dynamic patterns on a step that is not one of the patterns they fit. */
export function misplacedDynamicFields(
  raw: Json,
  pattern: string | undefined,
  at: string,
  issues: FieldIssue[],
): void {
  for (const [key, patterns] of Object.entries(FOR)) {
    if (raw[key] !== undefined && !(patterns as readonly (string | undefined)[]).includes(pattern))
      issues.push({ field: fieldOf(at, key), message: `only allowed with pattern ${patterns.join(', ')}` });
  }
}

export function readDynamic(
  raw: Json,
  pattern: DynamicPattern,
  at: string,
  members: readonly Located<AgentRef>[],
  agentAt: AgentAt,
  issues: FieldIssue[],
): DynamicSpec {
  const f = (key: string): string => fieldOf(at, key);
  const agentCount = Array.isArray(raw.agents) ? raw.agents.length : 0;
  if (raw.rounds !== undefined && raw.max_rounds !== undefined)
    issues.push({ field: f('rounds'), message: 'rounds is an alias of max_rounds: give one of them' });
  let coordinator: Located<AgentRef> | undefined;
  const pool: PoolEntry[] = [];
  if (pattern === 'hierarchical') {
    if (raw.coordinator !== undefined || raw.pool !== undefined) {
      if (raw.agents !== undefined)
        issues.push({ field: f('agents'), message: 'use either coordinator + pool or agents, not both' });
      if (raw.coordinator === undefined)
        issues.push({ field: f('coordinator'), message: 'is required with pool' });
      if (raw.pool === undefined) issues.push({ field: f('pool'), message: 'is required with coordinator' });
      coordinator = agentAt(raw.coordinator, f('coordinator'), issues);
      const list = Array.isArray(raw.pool) ? raw.pool : [];
      list.forEach((item, i) => {
        const entry = readPoolEntry(item, fieldOf(f('pool'), i), agentAt, issues);
        if (entry !== undefined) pool.push(entry);
      });
    } else {
      [coordinator] = members;
      for (const m of members.slice(1)) pool.push({ agent: m, routing: 'round_robin', delegates: false });
    }
    if (raw.allow_self_delegation !== true && coordinator !== undefined) {
      for (const entry of pool) {
        if (entry.agent?.value.name === coordinator.value.name)
          issues.push({
            field: entry.agent.field,
            message: `is the coordinator "${coordinator.value.name}": a coordinator may not delegate to itself unless allow_self_delegation is true`,
          });
      }
    }
  } else if ((pattern === 'selector' || pattern === 'handoff') && agentCount === 1) {
    issues.push({ field: f('agents'), message: `${pattern} needs at least 2 agents` });
  }
  if (pattern === 'selector' && raw.selector === undefined)
    issues.push({
      field: f('selector'),
      message: 'is required for pattern selector ({agent} or {expression})',
    });
  const sel = isObject(raw.selector) ? raw.selector : undefined;
  const selectorExpression = str(sel?.expression);
  const selector =
    sel === undefined
      ? undefined
      : {
          ...(sel.agent === undefined
            ? {}
            : { agent: agentAt(sel.agent, fieldOf(f('selector'), 'agent'), issues) }),
          ...(selectorExpression === undefined
            ? {}
            : { expression: { value: selectorExpression, field: fieldOf(f('selector'), 'expression') } }),
        };
  const until = str(raw.until);
  return {
    pattern,
    ...(coordinator === undefined ? {} : { coordinator }),
    pool,
    maxRounds:
      int(raw.max_rounds) ??
      int(raw.rounds) ??
      (pattern === 'mesh' ? 3 : pattern === 'hierarchical' ? 5 : 10),
    maxSubtasks: int(raw.max_subtasks) ?? 20,
    maxDepth: int(raw.max_depth) ?? 2,
    allowSelfDelegation: raw.allow_self_delegation === true,
    ...(until === undefined ? {} : { until: { value: until, field: f('until') } }),
    window: int(raw.window) ?? 20,
    ...(selector === undefined ? {} : { selector }),
    maxHandoffs: int(raw.max_handoffs) ?? 10,
    maxPingPong: int(raw.max_ping_pong) ?? 3,
  };
}

function readPoolEntry(
  item: unknown,
  field: string,
  agentAt: AgentAt,
  issues: FieldIssue[],
): PoolEntry | undefined {
  if (typeof item === 'string') {
    const agent = agentAt(item, field, issues);
    return agent === undefined ? undefined : { agent, routing: 'round_robin', delegates: false };
  }
  if (!isObject(item)) return undefined;
  const hasAgent = item.agent !== undefined;
  const hasCapability = item.capability !== undefined;
  if (hasAgent === hasCapability) {
    issues.push({ field, message: 'must have exactly one of agent or capability' });
    return undefined;
  }
  if (hasCapability) {
    if (item.delegates !== undefined)
      issues.push({ field: fieldOf(field, 'delegates'), message: 'only allowed with agent' });
    const capability = str(item.capability);
    return capability === undefined
      ? undefined
      : {
          capability: { value: capability, field: fieldOf(field, 'capability') },
          routing: (str(item.routing) as RoutingStrategy | undefined) ?? 'round_robin',
          delegates: false,
        };
  }
  if (item.routing !== undefined)
    issues.push({ field: fieldOf(field, 'routing'), message: 'only allowed with capability' });
  const agent = agentAt(item.agent, fieldOf(field, 'agent'), issues);
  return agent === undefined
    ? undefined
    : { agent, routing: 'round_robin', delegates: item.delegates === true };
}
