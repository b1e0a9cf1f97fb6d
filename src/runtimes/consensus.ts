/**
 * builtin/consensus, voting and weighted: counts the members' outputs (compared as canonical
 * JSON, key order does not matter), each weighted by `weights[i]` when given. It reports; it
 * does not decide: a consensus step's decision (its quorum, the trust weights as they are at
 * that moment, what a missed quorum does) is the engine's, in the transaction that completes
 * the step (src/engine/consensus.ts). The judge-based strategies send their candidates to the
 * judge agent instead.
 */
import { majorityOf, tallyVotes } from '../registry/index.js';
import { RuntimeError } from './errors.js';

export interface ConsensusInput {
  strategy: string;
  quorum?: number;
  results: unknown[];
  weights?: number[];
  judge?: unknown;
}

export interface ConsensusOutput {
  decision: unknown;
  reached: boolean;
  agreement: number;
  votes: { value: unknown; count: number; weight?: number }[];
}

export function consensus(input: ConsensusInput): ConsensusOutput {
  if (input.strategy !== 'voting' && input.strategy !== 'weighted') {
    throw RuntimeError.invalidInput(
      'input.strategy',
      `builtin/consensus counts votes only ("voting" or "weighted"); a ${input.strategy} step sends its candidates to the judge agent, whose output is the decision`,
    );
  }
  if (input.weights !== undefined && input.weights.length !== input.results.length)
    throw RuntimeError.invalidInput('input.weights', 'must have one weight per result');
  const weighted = input.strategy === 'weighted';
  const { votes, totalWeight } = tallyVotes(input.results, weighted ? input.weights : undefined);
  const top = votes[0]!; // results has at least one item (the input schema says minItems 1)
  const total = input.results.length;
  // weighted: quorum is a fraction of the total weight (default: more than half).
  const share = totalWeight > 0 ? top.weight / totalWeight : 0;
  const reached = weighted
    ? input.quorum === undefined
      ? share > 0.5
      : share >= input.quorum
    : top.count >= (input.quorum ?? majorityOf(total));
  return {
    decision: top.value,
    reached,
    agreement: weighted ? share : top.count / total,
    votes: votes.map((v) => ({
      value: v.value,
      count: v.count,
      ...(weighted ? { weight: v.weight } : {}),
    })),
  };
}
