import type { Kysely } from 'kysely';
import { fromDbJson, type SwarmDatabase } from '../storage/index.js';

/** Item outputs read per query: a fan-in of a million items never holds a million rows at once. */
const PAGE = 10_000;

/**
 * A for_each step's output: its items' outputs in item order, read from its completed tasks a
 * page at a time (keyset on item_index, served by idx_tasks_run_step), so the driver's rows
 * for a huge fan-out are never all in memory beside the parsed outputs.
 */
export async function readItemOutputs(
  trx: Kysely<SwarmDatabase>,
  runId: string,
  stepId: string,
): Promise<unknown[]> {
  const outputs: unknown[] = [];
  for (let after = -1; ;) {
    const page = await trx
      .selectFrom('tasks')
      .select(['item_index', 'result_data'])
      .where('run_id', '=', runId)
      .where('step_id', '=', stepId)
      .where('status', '=', 'COMPLETED')
      .where('item_index', '>', after)
      .orderBy('item_index')
      .limit(PAGE)
      .execute();
    for (const row of page) outputs.push(fromDbJson(row.result_data));
    if (page.length < PAGE) return outputs;
    after = page[page.length - 1]!.item_index!;
  }
}
