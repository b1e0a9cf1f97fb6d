import type { FieldIssue } from '../../errors/index.js';
import type { SourceStep } from './source.js';

/**
 * Graph rules on the steps as written: unique ids, needs that name a step, no cycles. They run
 * before expansion because expansion only adds chains of fresh ids (`<id>__<n>`) inside one
 * source step, so a source graph that passes expands to a DAG that does too.
 */

/** Duplicate ids, needs naming no step, and one issue per cycle; `noun` is "step" or "node". */
export function graphIssues(steps: readonly SourceStep[], noun: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const first = new Map<string, SourceStep>();
  for (const step of steps) {
    if (step.id === '') continue;
    const seen = first.get(step.id);
    if (seen)
      issues.push({
        field: step.idField,
        message: `duplicate ${noun} id "${step.id}" (first at ${seen.idField})`,
      });
    else first.set(step.id, step);
  }
  for (const step of steps) {
    for (const need of step.needs) {
      if (!first.has(need.value))
        issues.push({ field: need.field, message: `unknown ${noun} "${need.value}"` });
    }
  }
  for (const issue of cycleIssues([...first.values()], first)) issues.push(issue);
  return issues;
}

/**
 * Finds cycles by depth-first search over needs. Each cycle is named in run order
 * (`a → b → c → a`: b needs a, c needs b, a needs c) starting from the step written first, and
 * reported on that step's need that closes it. Steps on a reported cycle are not reported again.
 */
function cycleIssues(steps: readonly SourceStep[], byId: ReadonlyMap<string, SourceStep>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const onCycle = new Set<string>();
  const order = new Map(steps.map((s, i) => [s.id, i]));
  const stack: string[] = [];
  const visit = (id: string): void => {
    state.set(id, 'open');
    stack.push(id);
    for (const need of byId.get(id)?.needs ?? []) {
      const next = need.value;
      if (!byId.has(next)) continue;
      if (state.get(next) === 'open') {
        // On the stack each step needs the one after it, and `id` needs `next`: a loop.
        const loop = stack.slice(stack.indexOf(next));
        if (loop.some((s) => onCycle.has(s))) continue;
        loop.forEach((s) => onCycle.add(s));
        issues.push(describe(loop, byId, order));
      } else if (state.get(next) === undefined) visit(next);
    }
    stack.pop();
    state.set(id, 'done');
  };
  for (const step of steps) if (state.get(step.id) === undefined) visit(step.id);
  return issues;
}

/** `loop[i]` needs `loop[i + 1]` (and the last needs the first); say it in run order. */
function describe(
  loop: readonly string[],
  byId: ReadonlyMap<string, SourceStep>,
  order: ReadonlyMap<string, number>,
): FieldIssue {
  const runOrder = [...loop].reverse();
  const start = runOrder.reduce((a, b) => ((order.get(b) ?? 0) < (order.get(a) ?? 0) ? b : a));
  const from = runOrder.indexOf(start);
  const names = [...runOrder.slice(from), ...runOrder.slice(0, from), start];
  // In run order the step before `start` is the one it needs: that need closes the cycle.
  const before = names[names.length - 2]!;
  const step = byId.get(start)!;
  const need = step.needs.find((n) => n.value === before);
  return { field: need?.field ?? step.idField, message: `cycle ${names.join(' → ')}` };
}

/** Every step each step depends on, directly or not (cycle-safe; unknown ids are ignored). */
export function ancestors(steps: readonly SourceStep[]): Map<string, Set<string>> {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const memo = new Map<string, Set<string>>();
  const visit = (id: string, path: Set<string>): Set<string> => {
    const known = memo.get(id);
    if (known) return known;
    const all = new Set<string>();
    path.add(id);
    for (const need of byId.get(id)?.needs ?? []) {
      if (!byId.has(need.value)) continue;
      all.add(need.value);
      if (!path.has(need.value)) for (const a of visit(need.value, path)) all.add(a);
    }
    path.delete(id);
    memo.set(id, all);
    return all;
  };
  for (const step of steps) visit(step.id, new Set());
  return memo;
}

/**
 * Kahn's algorithm that always takes the earliest-written ready step, so the order is stable:
 * a definition that is already in dependency order comes out unchanged. Assumes no cycles.
 */
export function topoSort<T extends { readonly id: string; readonly needs: readonly string[] }>(
  items: readonly T[],
): T[] {
  const remaining = new Map(items.map((item) => [item.id, new Set(item.needs)]));
  const dependents = new Map<string, string[]>();
  for (const item of items) {
    for (const need of item.needs) {
      const list = dependents.get(need);
      if (list) list.push(item.id);
      else dependents.set(need, [item.id]);
    }
  }
  const index = new Map(items.map((item, i) => [item.id, i]));
  const ready = items.filter((item) => item.needs.length === 0).map((item) => index.get(item.id)!);
  const out: T[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const item = items[ready.shift()!]!;
    out.push(item);
    for (const dep of dependents.get(item.id) ?? []) {
      const left = remaining.get(dep)!;
      left.delete(item.id);
      if (left.size === 0) ready.push(index.get(dep)!);
    }
  }
  return out;
}
