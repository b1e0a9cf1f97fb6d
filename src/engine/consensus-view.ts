import type { Kysely } from 'kysely';
import { fromDbJson, type SwarmDatabase } from '../storage/index.js';

/** A consensus decision as the API shows it (a consensus_results row, src/engine/consensus.ts). */
export interface ConsensusView {
  readonly stepId: string | null;
  readonly taskId: string | null;
  readonly strategy: string;
  /** The decision; null when none was reached (a missed quorum that failed the step). */
  readonly finalResult: unknown;
  readonly confidence: number | null;
  /** Keyed by member (and layer) step id: `{agent, output}`. */
  readonly agentResults: Record<string, { agent: string | null; output: unknown }>;
  /** How it was decided: tally, weights, quorum, reached; a judge's choice and reasoning. */
  readonly details: Record<string, unknown>;
  readonly createdAt: string;
}

/** The consensus decisions of one of `ownerId`'s runs, oldest first. */
export async function readConsensus(
  db: Kysely<SwarmDatabase>,
  ownerId: string,
  runId: string,
): Promise<ConsensusView[]> {
  const rows = await db
    .selectFrom('consensus_results')
    .selectAll()
    .where('run_id', '=', runId)
    .where('owner_id', '=', ownerId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map((row) => ({
    stepId: row.step_id,
    taskId: row.task_id,
    strategy: row.consensus_type,
    finalResult: fromDbJson(row.final_result),
    confidence: row.confidence === null ? null : Number(row.confidence),
    agentResults: fromDbJson(row.agent_results) ?? {},
    details: fromDbJson(row.strategy_details) ?? {},
    createdAt: String(row.created_at),
  }));
}
