import { canonicalJson } from '../content-hash.js';

/**
 * What a consensus step means, as pure functions shared by builtin/consensus (which counts the
 * votes a step's task sees) and the engine (which decides, records and moves trust in the
 * transaction that completes the step). Results are compared as canonical JSON, so key order
 * does not matter; a member that produced nothing votes for null.
 */

export interface Vote {
  readonly value: unknown;
  /** How many members gave this value. */
  readonly count: number;
  /** Their summed weight (1 each unless weighted). */
  readonly weight: number;
  /** The indexes of the members that gave it, in member order. */
  readonly members: readonly number[];
}

export interface Tally {
  /** Most weight first; a tie goes to the value the earliest member gave. */
  readonly votes: readonly Vote[];
  readonly totalWeight: number;
}

/** Tallies `results` (one per member), each weighted by `weights[i]` (1 when absent). */
export function tallyVotes(results: readonly unknown[], weights?: readonly number[]): Tally {
  const byValue = new Map<string, { value: unknown; count: number; weight: number; members: number[] }>();
  let totalWeight = 0;
  results.forEach((result, i) => {
    const weight = weights?.[i] ?? 1;
    totalWeight += weight;
    const key = canonicalJson(result ?? null);
    const entry = byValue.get(key);
    if (entry === undefined) byValue.set(key, { value: result ?? null, count: 1, weight, members: [i] });
    else {
      entry.count++;
      entry.weight += weight;
      entry.members.push(i);
    }
  });
  // The sort is stable and the map keeps first-seen order: the same results, the same decision.
  const votes = [...byValue.values()].sort((a, b) => b.weight - a.weight || b.count - a.count);
  return { votes, totalWeight };
}

/** Whether two results are the same vote. */
export function sameResult(a: unknown, b: unknown): boolean {
  return canonicalJson(a ?? null) === canonicalJson(b ?? null);
}

/** voting's default quorum: a strict majority of `members`. */
export const majorityOf = (members: number): number => Math.floor(members / 2) + 1;

/** A judge's verdict, validated. */
export interface Verdict {
  readonly choice: number;
  readonly confidence: number;
  readonly reasoning: string;
}

/**
 * Checks a judge's output against `{choice, confidence, reasoning}` for `candidates` candidates:
 * the verdict, or `{field, message}` naming what is wrong (`output.confidence`).
 */
export function readVerdict(
  output: unknown,
  candidates: number,
): Verdict | { field: string; message: string } {
  if (output === null || typeof output !== 'object' || Array.isArray(output))
    return { field: 'output', message: 'must be an object {choice, confidence, reasoning}' };
  const { choice, confidence, reasoning } = output as Record<string, unknown>;
  if (typeof choice !== 'number' || !Number.isInteger(choice) || choice < 0 || choice >= candidates)
    return {
      field: 'output.choice',
      message: `must be the 0-based index of a candidate (an integer from 0 to ${candidates - 1})`,
    };
  if (typeof confidence !== 'number' || !Number.isFinite(confidence))
    return { field: 'output.confidence', message: 'must be a number between 0 and 1' };
  if (confidence < 0 || confidence > 1)
    return { field: 'output.confidence', message: 'must be between 0 and 1' };
  if (typeof reasoning !== 'string') return { field: 'output.reasoning', message: 'must be a string' };
  return { choice, confidence, reasoning };
}
