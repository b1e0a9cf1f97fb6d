/**
 * builtin/consensus, voting: the members' outputs are compared as canonical JSON (key order
 * does not matter) and counted. The judge-based strategies are not decided here: the workflow
 * sends the candidates to the judge agent, whose output is the decision.
 */
import { canonicalJson } from '../registry/index.js';
import { RuntimeError } from './errors.js';

export interface ConsensusInput {
  strategy: string;
  quorum?: number;
  results: unknown[];
  judge?: unknown;
}

export interface ConsensusOutput {
  decision: unknown;
  reached: boolean;
  agreement: number;
  votes: { value: unknown; count: number }[];
}

export function consensus(input: ConsensusInput): ConsensusOutput {
  if (input.strategy !== 'voting') {
    throw RuntimeError.invalidInput(
      'input.strategy',
      `builtin/consensus counts votes only ("voting"); a ${input.strategy} step sends its candidates to the judge agent, whose output is the decision`,
    );
  }
  const tally = new Map<string, { value: unknown; count: number }>();
  for (const result of input.results) {
    // JSON has no undefined: a member that produced nothing votes for null.
    const key = canonicalJson(result ?? null);
    const entry = tally.get(key);
    if (entry === undefined) tally.set(key, { value: result ?? null, count: 1 });
    else entry.count++;
  }
  // Most votes first; a tie goes to the value the earliest member gave (Map keeps that order,
  // and the sort is stable), so the same results always give the same decision.
  const votes = [...tally.values()].sort((a, b) => b.count - a.count);
  const top = votes[0]!; // results has at least one item (the input schema says minItems 1)
  const total = input.results.length;
  const quorum = input.quorum ?? Math.floor(total / 2) + 1;
  return { decision: top.value, reached: top.count >= quorum, agreement: top.count / total, votes };
}
