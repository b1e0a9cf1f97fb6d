import { loadJson } from '../blobs/index.js';
import type { Kysely } from 'kysely';
import type { SwarmDatabase } from '../storage/index.js';

/** Item outputs read per query: a fan-in of a million items never holds a million rows at once. */
const PAGE = 10_000;

/**
 * A for_each step's output: its items' outputs in item order, read from its completed tasks a
 * page at a time (keyset on item_index, served by idx_tasks_run_step), so the driver's rows
 * for a huge fan-out are never all in memory beside the parsed outputs. `extra`: outputs of
 * items not stored as completed yet (a batch being prepared), merged in by item index.
 */
export async function readItemOutputs(
  db: Kysely<SwarmDatabase>,
  runId: string,
  stepId: string,
  extra: ReadonlyArray<{ readonly itemIndex: number | null; readonly output: unknown }> = [],
): Promise<unknown[]> {
  const pending = [...extra].sort((a, b) => a.itemIndex! - b.itemIndex!);
  let next = 0;
  const outputs: unknown[] = [];
  const takeExtrasBefore = (index: number) => {
    for (; next < pending.length && pending[next]!.itemIndex! < index; next++)
      outputs.push(pending[next]!.output ?? null);
  };
  for (let after = -1; ;) {
    const page = await db
      .selectFrom('tasks')
      .select(['item_index', 'result_data'])
      .where('run_id', '=', runId)
      .where('step_id', '=', stepId)
      .where('status', '=', 'COMPLETED')
      .where('item_index', '>', after)
      .orderBy('item_index')
      .limit(PAGE)
      .execute();
    for (const row of page) {
      takeExtrasBefore(row.item_index!);
      outputs.push(await loadJson(db, row.result_data));
    }
    if (page.length < PAGE) {
      takeExtrasBefore(Infinity);
      return outputs;
    }
    after = page[page.length - 1]!.item_index!;
  }
}
