import { loadJson } from '../blobs/index.js';
import type { Kysely } from 'kysely';
import {
  fromDbJson,
  type DatabaseHandle,
  type DialectAdapter,
  type SwarmDatabase,
} from '../storage/index.js';
import { chunksFor } from './batch.js';
import { TASKS_CHANNEL } from './announce.js';

/** Statuses a task never leaves. */
export const FINISHED_STATUSES = ['COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED', 'EXPIRED'] as const;

/**
 * Child tasks (an agent loop's tool calls) have ended: each parent still asleep whose children
 * have all ended becomes claimable now, and the workers are told. Called in the transaction that
 * ended them, with their parents' ids; a parent with a child still to run keeps sleeping. A
 * parent also wakes by itself at the end of its sleep (it re-checks and sleeps again), so an
 * ending this misses — none is known — delays it, never strands it.
 */
export async function wakeParents(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  parentIds: readonly string[],
  at: string,
): Promise<number> {
  const unique = [...new Set(parentIds)].sort();
  let woken = 0;
  for (const chunk of chunksFor(dialect, unique, 1)) {
    // Two transactions ending the last two children at once (two workers, or one worker's two
    // completion batches) would each see the other's child still running, and neither would
    // wake the parent. Each locks the parents first (in id order), so whichever comes second
    // looks after the first committed, with a new snapshot, and sees both children ended.
    // SQLite's one writer never runs two such transactions at once.
    if (dialect.capabilities.skipLocked)
      await trx.selectFrom('tasks').select('id').where('id', 'in', chunk).orderBy('id').forUpdate().execute();
    const result = await trx
      .updateTable('tasks')
      .set({ run_at: at, updated_at: at })
      .where('id', 'in', chunk)
      .where('status', '=', 'PENDING')
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('tasks as child')
              .select('child.id')
              .whereRef('child.parent_task_id', '=', 'tasks.id')
              .where('child.status', 'not in', [...FINISHED_STATUSES]),
          ),
        ),
      )
      .executeTakeFirst();
    woken += Number(result.numUpdatedRows);
  }
  if (woken > 0) await dialect.notify(trx as unknown as Kysely<unknown>, TASKS_CHANNEL);
  return woken;
}

/** One child task as its parent reads it back. */
export interface ChildTask {
  readonly id: string;
  readonly status: string;
  /** Whether it has ended (one of FINISHED_STATUSES). */
  readonly finished: boolean;
  readonly output: unknown;
  readonly error: string | null;
  readonly metadata: unknown;
}

/** The children `parentId` spawned (its owner's only), oldest first. */
export async function childTasksOf(
  handle: DatabaseHandle,
  ownerId: string,
  parentId: string,
): Promise<ChildTask[]> {
  const rows = await handle.db
    .selectFrom('tasks')
    .select(['id', 'status', 'result_data', 'error_message', 'task_metadata'])
    .where('parent_task_id', '=', parentId)
    .where('owner_id', '=', ownerId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const outputs = await Promise.all(rows.map((row) => loadJson(handle.db, row.result_data)));
  return rows.map((row, i) => ({
    id: row.id,
    status: row.status,
    finished: (FINISHED_STATUSES as readonly string[]).includes(row.status),
    output: outputs[i] ?? null,
    error: row.error_message,
    metadata: fromDbJson(row.task_metadata) ?? null,
  }));
}

/** How many child tasks the tasks of run `runId` have started (for the per-run cap). */
export async function countRunChildTasks(
  handle: DatabaseHandle,
  ownerId: string,
  runId: string,
): Promise<number> {
  const row = await handle.db
    .selectFrom('tasks as child')
    .innerJoin('tasks as parent', 'parent.id', 'child.parent_task_id')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('parent.run_id', '=', runId)
    .where('parent.owner_id', '=', ownerId)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}
