import type { ROUTING_STRATEGIES } from '../storage/index.js';

export type RoutingStrategy = (typeof ROUTING_STRATEGIES)[number];

/** One agent routing may pick: the latest active version of one agent name that offers the capability. */
export interface Candidate {
  readonly id: string;
  readonly name: string;
  readonly version: string;
  readonly trustScore: number;
  readonly healthScore: number;
  /** Null until the agent has completed a task. */
  readonly avgCompletionTimeSeconds: number | null;
  /** Null until routing first picked the agent. */
  readonly lastAssignedAt: string | null;
  /** Its tasks ASSIGNED or RUNNING right now (read only for `least_loaded`). */
  readonly load: number;
}

/** A source of numbers in [0, 1), like Math.random (injectable, so tests can fix the choice). */
export type RandomSource = () => number;

const byName = (a: Candidate, b: Candidate) =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

/** Least recently assigned first (never assigned before all), then by name. */
const byLastAssigned = (a: Candidate, b: Candidate) => {
  const at = a.lastAssignedAt === null ? -Infinity : Date.parse(a.lastAssignedAt);
  const bt = b.lastAssignedAt === null ? -Infinity : Date.parse(b.lastAssignedAt);
  return at !== bt ? (at < bt ? -1 : 1) : byName(a, b);
};

function index(random: RandomSource, n: number): number {
  const r = random();
  const value = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
  return Math.min(n - 1, Math.floor(value * n));
}

/**
 * Picks one of `candidates` (not empty) by `strategy`:
 * - `round_robin`: the least recently assigned; never-assigned agents first, ties by name.
 * - `least_loaded`: the fewest tasks ASSIGNED or RUNNING; ties by round_robin.
 * - `trust_weighted`: at random, each agent's chance proportional to its trust score (uniform
 *   when every score is 0); the candidates are laid out by name, so a fixed `random` fixes the choice.
 * - `fastest`: the lowest average completion time; agents with no average yet come first (so
 *   each one gets measured), ties by round_robin.
 * - `random`: uniformly at random over the candidates by name.
 */
export function pickCandidate(
  strategy: RoutingStrategy,
  candidates: readonly Candidate[],
  random: RandomSource = Math.random,
): Candidate {
  if (candidates.length === 0) throw new Error('pickCandidate: no candidates');
  const sorted = [...candidates];
  switch (strategy) {
    case 'round_robin':
      return sorted.sort(byLastAssigned)[0]!;
    case 'least_loaded':
      return sorted.sort((a, b) => a.load - b.load || byLastAssigned(a, b))[0]!;
    case 'fastest':
      return sorted.sort((a, b) => {
        const as = a.avgCompletionTimeSeconds;
        const bs = b.avgCompletionTimeSeconds;
        if (as === null || bs === null) return as === bs ? byLastAssigned(a, b) : as === null ? -1 : 1;
        return as - bs || byLastAssigned(a, b);
      })[0]!;
    case 'trust_weighted': {
      sorted.sort(byName);
      const total = sorted.reduce((sum, c) => sum + Math.max(0, c.trustScore), 0);
      if (!(total > 0)) return sorted[index(random, sorted.length)]!;
      let target = Math.min(Math.max(random(), 0), 1) * total;
      for (const candidate of sorted) {
        const weight = Math.max(0, candidate.trustScore);
        if (weight > 0 && target < weight) return candidate;
        target -= weight;
      }
      // random() of 1 (or float error): the last candidate with any weight.
      return [...sorted].reverse().find((c) => c.trustScore > 0)!;
    }
    case 'random':
      sorted.sort(byName);
      return sorted[index(random, sorted.length)]!;
  }
}
