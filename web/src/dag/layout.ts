/**
 * The DAG layout of a workflow, as a pure function (no React, no DOM) so it can be tested on its
 * own and shared by the Runs and Workflows views. Longest-path layering: a step sits one layer
 * right of its deepest dependency; within a layer steps are ordered by the mean position of their
 * dependencies (one barycentre pass, enough to keep chains straight), then kept next to the other
 * members of their pattern/consensus group, then in definition order.
 */

/** The parts of a (normalised) workflow step the graph needs; the API's `workflow.steps[]`. */
export interface StepLike {
  readonly id: string;
  readonly name?: string;
  /** Direct dependencies: the normalised form is an array; a written step may use one string. */
  readonly needs?: readonly string[] | string;
  readonly for_each?: string;
  readonly agent?: { readonly name: string } | string;
  readonly capability?: { readonly name: string } | string;
  readonly consensus?: { readonly strategy: string; readonly members: readonly string[] };
  readonly origin?: {
    readonly kind: string;
    readonly step: string;
    readonly pattern?: string;
    readonly role?: string;
  };
}

export interface WorkflowDefinitionLike {
  readonly steps: readonly StepLike[];
}

/** A step's live state as the graph shows it; counts are for for_each steps. */
export interface StepStateLike {
  readonly status: string;
  readonly done?: number;
  readonly failed?: number;
  readonly total?: number;
}

export interface LayoutNode {
  readonly id: string;
  readonly label: string;
  /** What it runs: an agent or capability name, if any. */
  readonly detail: string;
  readonly layer: number;
  /** Position within its layer, from 0. */
  readonly order: number;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  /** A for_each step: one node for all of its items. */
  readonly fanOut: boolean;
  /** The pattern/consensus group it belongs to, if any. */
  readonly group: string | null;
}

export interface LayoutEdge {
  readonly id: string;
  readonly source: string;
  readonly target: string;
}

export interface LayoutGroup {
  readonly id: string;
  readonly label: string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly members: readonly string[];
}

export interface DagLayout {
  readonly nodes: readonly LayoutNode[];
  readonly edges: readonly LayoutEdge[];
  readonly groups: readonly LayoutGroup[];
  readonly width: number;
  readonly height: number;
}

export const NODE_WIDTH = 190;
export const NODE_HEIGHT = 58;
export const LAYER_GAP = 70;
export const ROW_GAP = 26;
/** Room around a group's members for its frame and label. */
export const GROUP_PAD = 12;

function needsOf(step: StepLike): string[] {
  if (step.needs === undefined) return [];
  return typeof step.needs === 'string' ? [step.needs] : [...step.needs];
}

function nameOf(ref: { readonly name: string } | string | undefined): string | undefined {
  return typeof ref === 'string' ? ref : ref?.name;
}

/** The group a step is drawn in: the pattern or consensus step it was expanded from. */
export function groupOf(step: StepLike): { id: string; label: string } | null {
  if (step.consensus !== undefined) return { id: step.id, label: `consensus: ${step.consensus.strategy}` };
  if (step.origin === undefined || step.origin.kind === 'node') return null;
  const label = step.origin.kind === 'pattern' ? `pattern: ${step.origin.pattern ?? ''}` : 'consensus';
  return { id: step.origin.step, label: `${step.origin.step} (${label.trim()})` };
}

export function layoutDag(definition: WorkflowDefinitionLike): DagLayout {
  const steps = definition.steps;
  const byId = new Map(steps.map((s, i) => [s.id, { step: s, index: i }]));
  const layerOf = new Map<string, number>();
  // Iterative longest path with a visiting mark, so a (malformed) cycle cannot recurse for ever.
  const visiting = new Set<string>();
  const depth = (id: string): number => {
    const known = layerOf.get(id);
    if (known !== undefined) return known;
    const entry = byId.get(id);
    if (entry === undefined || visiting.has(id)) return -1;
    visiting.add(id);
    let layer = 0;
    for (const need of needsOf(entry.step)) layer = Math.max(layer, depth(need) + 1);
    visiting.delete(id);
    layerOf.set(id, layer);
    return layer;
  };
  for (const step of steps) depth(step.id);

  const layers: StepLike[][] = [];
  for (const step of steps) (layers[layerOf.get(step.id) ?? 0] ??= []).push(step);

  // Order each layer by the barycentre of its dependencies' orders in earlier layers.
  const orderOf = new Map<string, number>();
  const groupIds = new Map(steps.map((s) => [s.id, groupOf(s)?.id ?? null]));
  for (const layer of layers) {
    if (layer === undefined) continue;
    const keyed = layer.map((step) => {
      const parents = needsOf(step)
        .map((n) => orderOf.get(n))
        .filter((o): o is number => o !== undefined);
      const bary = parents.length === 0 ? -1 : parents.reduce((a, b) => a + b, 0) / parents.length;
      return { step, bary, index: byId.get(step.id)!.index };
    });
    // A group sorts by its first member's barycentre, so its members stay adjacent.
    const groupKey = new Map<string, number>();
    for (const k of keyed) {
      const g = groupIds.get(k.step.id);
      if (g !== null && g !== undefined && !groupKey.has(g)) groupKey.set(g, k.bary);
    }
    keyed.sort((a, b) => {
      const ga = groupIds.get(a.step.id) ?? null;
      const gb = groupIds.get(b.step.id) ?? null;
      const ka = ga === null ? a.bary : groupKey.get(ga)!;
      const kb = gb === null ? b.bary : groupKey.get(gb)!;
      if (ka !== kb) return ka - kb;
      if (ga !== gb) return (ga ?? '').localeCompare(gb ?? '');
      return a.index - b.index;
    });
    keyed.forEach((k, order) => orderOf.set(k.step.id, order));
  }

  const tallest = Math.max(0, ...layers.map((l) => l?.length ?? 0));
  const columnHeight = (count: number) => count * NODE_HEIGHT + Math.max(0, count - 1) * ROW_GAP;
  const nodes: LayoutNode[] = steps.map((step) => {
    const layer = layerOf.get(step.id) ?? 0;
    const order = orderOf.get(step.id) ?? 0;
    // Centre each column on the tallest one, so short layers sit in the middle.
    const offset = (columnHeight(tallest) - columnHeight(layers[layer]?.length ?? 1)) / 2;
    return {
      id: step.id,
      label: step.name ?? step.id,
      detail: nameOf(step.agent) ?? nameOf(step.capability) ?? '',
      layer,
      order,
      x: GROUP_PAD + layer * (NODE_WIDTH + LAYER_GAP),
      y: GROUP_PAD * 2 + offset + order * (NODE_HEIGHT + ROW_GAP),
      width: NODE_WIDTH,
      height: NODE_HEIGHT,
      fanOut: step.for_each !== undefined,
      group: groupIds.get(step.id) ?? null,
    };
  });

  const edges: LayoutEdge[] = [];
  for (const step of steps)
    for (const need of needsOf(step))
      if (byId.has(need)) edges.push({ id: `${need}->${step.id}`, source: need, target: step.id });

  const groups: LayoutGroup[] = [];
  const labels = new Map(steps.map((s) => [s.id, groupOf(s)]));
  const members = new Map<string, LayoutNode[]>();
  for (const node of nodes)
    if (node.group !== null)
      (members.get(node.group) ?? members.set(node.group, []).get(node.group)!).push(node);
  for (const [id, group] of members) {
    const x0 = Math.min(...group.map((n) => n.x)) - GROUP_PAD;
    const y0 = Math.min(...group.map((n) => n.y)) - GROUP_PAD * 2;
    const x1 = Math.max(...group.map((n) => n.x + n.width)) + GROUP_PAD;
    const y1 = Math.max(...group.map((n) => n.y + n.height)) + GROUP_PAD;
    // The aggregating step (its id is the group's) knows the strategy; else any member's label.
    const label =
      labels.get(id)?.label ??
      group.map((n) => labels.get(n.id)).find((l) => l !== null && l !== undefined)?.label ??
      id;
    groups.push({
      id,
      label,
      x: x0,
      y: y0,
      width: x1 - x0,
      height: y1 - y0,
      members: group.map((n) => n.id),
    });
  }

  return {
    nodes,
    edges,
    groups,
    width: GROUP_PAD * 2 + layers.length * NODE_WIDTH + Math.max(0, layers.length - 1) * LAYER_GAP,
    height: GROUP_PAD * 3 + columnHeight(tallest),
  };
}

/** The text of a node's state: a status, or a for_each step's counts ("37/100 done, 2 failed"). */
export function stateLabel(state: StepStateLike | undefined, fanOut: boolean): string {
  if (state === undefined) return 'pending';
  if (fanOut && state.total !== undefined) {
    const failed = state.failed !== undefined && state.failed > 0 ? `, ${state.failed} failed` : '';
    return `${state.done ?? 0}/${state.total} done${failed}`;
  }
  return state.status;
}
