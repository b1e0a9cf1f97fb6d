import type { NormalizedWorkflow } from '../registry/index.js';
import type { RunSteps } from './plan.js';

const orders = new WeakMap<NormalizedWorkflow, readonly string[]>();

/**
 * A workflow's step ids in the order a person reads a run: each step after the steps it needs,
 * and otherwise as the definition lists them (Kahn's algorithm taking the earliest-listed ready
 * step). For a definition listed in dependency order, that is the definition's order.
 */
export function stepOrder(workflow: NormalizedWorkflow): readonly string[] {
  const cached = orders.get(workflow);
  if (cached !== undefined) return cached;
  const ids = workflow.steps.map((s) => s.id);
  const index = new Map(ids.map((id, i) => [id, i]));
  const waiting = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const step of workflow.steps) {
    const needs = step.needs.filter((need) => index.has(need));
    waiting.set(step.id, needs.length);
    for (const need of needs) dependents.set(need, [...(dependents.get(need) ?? []), step.id]);
  }
  // Ready steps by their place in the definition, smallest first.
  const ready = ids.filter((id) => waiting.get(id) === 0);
  const order: string[] = [];
  while (ready.length > 0) {
    const id = ready.shift()!;
    order.push(id);
    for (const next of dependents.get(id) ?? []) {
      const left = waiting.get(next)! - 1;
      waiting.set(next, left);
      if (left !== 0) continue;
      const at = ready.findIndex((r) => index.get(r)! > index.get(next)!);
      ready.splice(at < 0 ? ready.length : at, 0, next);
    }
  }
  // A cycle cannot pass validation; should one be stored anyway, its steps still show.
  const placed = new Set(order);
  for (const id of ids) if (!placed.has(id)) order.push(id);
  orders.set(workflow, order);
  return order;
}

/**
 * The steps' states in `stepOrder`. PostgreSQL's jsonb keeps an object's keys in its own order
 * (shortest first), so a run read back must be put in order before it is shown or logged.
 */
export function inStepOrder(steps: RunSteps, workflow: NormalizedWorkflow | undefined): RunSteps {
  if (workflow === undefined) return steps;
  const ordered: RunSteps = {};
  for (const id of stepOrder(workflow)) if (steps[id] !== undefined) ordered[id] = steps[id];
  for (const [id, state] of Object.entries(steps)) if (ordered[id] === undefined) ordered[id] = state;
  return ordered;
}
