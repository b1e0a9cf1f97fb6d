/**
 * A chain's copies of its steps' outputs (`task_chains.step_results`, `final_result`), stored
 * as a run's are (docs/payloads.md): an output over SWARM_PAYLOAD_INLINE_MAX is a blob the
 * chain's row references, so a chain with a 50 MB step does not carry it inline. The blob is
 * the one the step's task already holds, referenced again instead of serialised and hashed anew.
 */
import type { Kysely, Selectable } from 'kysely';
import {
  keepReference,
  parseOutputs,
  referenceInText,
  storeValue,
  viewStored,
  viewValue,
  type BlobHandle,
} from '../blobs/index.js';
import { fromDbJson, type SwarmDatabase } from '../storage/index.js';
import type { ChainStepResult } from './types.js';

type ChainRow = Selectable<SwarmDatabase['task_chains']>;

/**
 * A completed step's output as the chain's row stores it (inside `step_results`, and as
 * `final_result` when it is the last step's). `taskText` is the `result_data` its task's
 * completion wrote: when that is a reference, the chain references the same blob.
 */
export async function storeChainOutput(
  handle: BlobHandle,
  chain: Pick<ChainRow, 'id' | 'owner_id'>,
  index: number,
  output: unknown,
  taskText: string | null,
): Promise<unknown> {
  const owner = { ownerId: chain.owner_id, source: 'task_chains', sourceId: chain.id } as const;
  const ref = referenceInText(taskText);
  if (ref !== null && (await keepReference(handle, ref, owner))) return ref;
  return storeValue(handle, output, owner, `step_results.${index}.output`);
}

/** A chain's step results by step index, and its result, in the form a view shows them. */
export interface ChainValues {
  readonly results: Record<string, ChainStepResult>;
  readonly result: unknown;
}

/** For a list: a large output or result stays a reference, with the URL to fetch it. */
export function listedChainValues(row: Pick<ChainRow, 'step_results' | 'final_result'>): ChainValues {
  const [results, stored] = parseOutputs<ChainStepResult>(row.step_results);
  for (const i of stored) results[i] = { ...results[i]!, output: viewStored(results[i]!.output) };
  return { results, result: viewStored(fromDbJson(row.final_result)) };
}

/** For a view of one chain: outputs and result whole up to VIEW_WHOLE_MAX, else a link. */
export async function viewedChainValues(
  db: Kysely<SwarmDatabase>,
  row: Pick<ChainRow, 'step_results' | 'final_result'>,
): Promise<ChainValues> {
  const [results, stored] = parseOutputs<ChainStepResult>(row.step_results);
  for (const i of stored) results[i] = { ...results[i]!, output: await viewValue(db, results[i]!.output) };
  return { results, result: await viewValue(db, fromDbJson(row.final_result)) };
}
