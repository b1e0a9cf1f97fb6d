/**
 * Flow-control keys. A key names one limit and what it counts over; it is namespaced by its
 * scope and always by its owner, so no two owners ever share a key (docs/flow-control.md):
 *
 * - step: owner + workflow + step, workflow: owner + workflow, agent: owner + agent name,
 *   owner: owner alone; then the value the step's `key` expression gave (or nothing).
 *
 * The stored key is a JSON array of those parts: unambiguous whatever the parts contain.
 */
export const FLOW_SCOPES = ['step', 'workflow', 'agent', 'owner'] as const;
export type FlowScope = (typeof FLOW_SCOPES)[number];

/** One limit a task is under. */
export interface FlowLimit {
  /** The stored key (flowKey). */
  readonly key: string;
  readonly scope: FlowScope;
  /** Most tasks of the key RUNNING at once. */
  readonly maxRunning?: number;
  /** Most starts of the key within any window of `periodMs`. */
  readonly rate?: { readonly limit: number; readonly periodMs: number };
}

export interface FlowNamespace {
  readonly ownerId: string;
  readonly workflow?: string;
  readonly step?: string;
  readonly agent?: string;
}

/** The stored key of a limit of `kind` (concurrency or rate) in `scope`, for `value`. */
export function flowKey(
  kind: 'concurrency' | 'rate',
  scope: FlowScope,
  ns: FlowNamespace,
  value: string,
): string {
  const parts: string[] = [kind === 'concurrency' ? 'c' : 'r', scope, ns.ownerId];
  if (scope === 'step') parts.push(ns.workflow ?? '', ns.step ?? '');
  else if (scope === 'workflow') parts.push(ns.workflow ?? '');
  else if (scope === 'agent') parts.push(ns.agent ?? '');
  parts.push(value);
  return JSON.stringify(parts);
}

/** What a stored key says, for people: its kind, scope, namespace and value. */
export function describeFlowKey(key: string): {
  kind: 'concurrency' | 'rate';
  namespace: string[];
  value: string;
} {
  let parts: unknown;
  try {
    parts = JSON.parse(key);
  } catch {
    parts = null;
  }
  if (!Array.isArray(parts) || parts.length < 4 || !parts.every((p) => typeof p === 'string'))
    return { kind: 'concurrency', namespace: [], value: key };
  const list = parts as string[];
  return {
    kind: list[0] === 'r' ? 'rate' : 'concurrency',
    namespace: list.slice(3, -1),
    value: list[list.length - 1]!,
  };
}

/** The owner-quota limit: every task of the owner counts. */
export function ownerQuota(ownerId: string, maxRunning: number): FlowLimit {
  return { key: flowKey('concurrency', 'owner', { ownerId }, '__quota'), scope: 'owner', maxRunning };
}

/** An agent's `resources.max_concurrency`: every task naming the agent (any version) counts. */
export function agentLimit(ownerId: string, agent: string, maxRunning: number): FlowLimit {
  return {
    key: flowKey('concurrency', 'agent', { ownerId, agent }, '__max_concurrency'),
    scope: 'agent',
    maxRunning,
  };
}
