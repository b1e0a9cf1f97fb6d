import { sql, type RawBuilder } from 'kysely';
import type { RetentionPolicy } from '../config/index.js';
import type { Engine } from '../engine/index.js';
import type { Store } from '../storage/index.js';
import { ENDED_TASK_STATUSES } from '../tasks/index.js';
import { archiveFinishedRuns } from './archive.js';
import { FINISHED_RUN_STATUSES, historyDb, type HistoryDb } from './tables.js';

/** Whose rows a pass deletes: one owner, by its own retention, or everyone but such owners. */
type Owners = { readonly only: string } | { readonly except: readonly string[] };

/** What one DELETE batch of a pass deletes from: whose rows, ended before when, how many. */
interface DeleteBatch {
  readonly store: Store;
  readonly db: HistoryDb;
  readonly cutoff: string;
  readonly owners: Owners;
  readonly batch: number;
}

interface WorkPass {
  readonly owners: Owners;
  /** 0: kept forever. */
  readonly runsDays: number;
  readonly tasksDays: number;
}

export interface WorkPruneContext {
  /** The instant `days` ago, as stored. */
  readonly before: (days: number) => string;
  readonly batch: number;
  readonly stop: () => boolean;
}

/**
 * Deletes finished work past its retention: archived runs, ended tasks of no run, ended chains.
 * An owner an admin gave its own retention (`users.retention_days`) is pruned by it, in a pass
 * of its own; the server's settings prune everyone else.
 */
export async function pruneWork(
  store: Store,
  engine: Engine,
  policy: RetentionPolicy,
  { before, batch, stop }: WorkPruneContext,
): Promise<{ runs: number; tasks: number; chains: number }> {
  const db = historyDb(store.handle.db);
  const own = await db
    .selectFrom('users')
    .select(['id', 'retention_days'])
    .where('retention_days', 'is not', null)
    .execute();
  const passes: WorkPass[] = [
    { owners: { except: own.map((o) => o.id) }, runsDays: policy.runsDays, tasksDays: policy.tasksDays },
    ...own.map((o) => ({
      owners: { only: o.id },
      runsDays: o.retention_days!,
      tasksDays: o.retention_days!,
    })),
  ];
  const report = { runs: 0, tasks: 0, chains: 0 };
  const drain = async (kind: keyof typeof report, deleteBatch: () => Promise<number>, untilNone = false) => {
    report[kind] += await deleteInBatches(deleteBatch, { batch, stop }, untilNone);
  };

  if (passes.some((pass) => pass.runsDays > 0))
    while ((await archiveFinishedRuns(store, engine, 100)) > 0 && !stop());
  for (const { owners, runsDays, tasksDays } of passes) {
    if (stop()) break;
    if (runsDays > 0) {
      const of: DeleteBatch = { store, db, cutoff: before(runsDays), owners, batch };
      await drain('runs', () => deleteArchivedRuns(of));
    }
    if (tasksDays > 0) {
      const of: DeleteBatch = { store, db, cutoff: before(tasksDays), owners, batch };
      // A batch deletes tasks without children; their parents are next, so a parent's whole
      // tree goes in one pass, a level per batch, and a batch that finds none ends it.
      await drain('tasks', () => deleteFinishedTasks(of), true);
      await drain('chains', () => deleteFinishedChains(of));
    }
  }
  return report;
}

/**
 * Runs `deleteBatch` until a batch deletes fewer than `batch` rows (with `untilNone`, until one
 * deletes none) or `stop()` says the server is closing; returns the rows deleted.
 */
export async function deleteInBatches(
  deleteBatch: () => Promise<number>,
  { batch, stop }: { readonly batch: number; readonly stop: () => boolean },
  untilNone = false,
): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await deleteBatch();
    total += deleted;
    if (deleted === 0 || (!untilNone && deleted < batch) || stop()) return total;
  }
}

/** The condition that `column` (an owner id) is one of `owners`. */
function ownedBy(owners: Owners, column: string): RawBuilder<boolean> {
  if ('only' in owners) return sql<boolean>`${sql.ref(column)} = ${owners.only}`;
  if (owners.except.length === 0) return sql<boolean>`1 = 1`;
  return sql<boolean>`${sql.ref(column)} NOT IN (${sql.join(owners.except)})`;
}

/** One batch of finished runs that ended before `cutoff` and are archived as they ended. */
async function deleteArchivedRuns({ store, db, cutoff, owners, batch }: DeleteBatch): Promise<number> {
  const ids = (
    await db
      .selectFrom('workflow_runs as r')
      .select('r.id')
      .where('r.status', 'in', [...FINISHED_RUN_STATUSES])
      .where('r.completed_at', '<', cutoff)
      .where(ownedBy(owners, 'r.owner_id'))
      .where((w) =>
        w.exists(
          w
            .selectFrom('execution_history as h')
            .select(sql`1`.as('one'))
            .whereRef('h.run_id', '=', 'r.id')
            .whereRef('h.completed_at', '=', 'r.completed_at'),
        ),
      )
      .orderBy('r.completed_at')
      .limit(batch)
      .execute()
  ).map((r) => r.id);
  if (ids.length === 0) return 0;
  return store.dialect.writeTransaction(db, async (trx) => {
    await trx
      .updateTable('metrics')
      .set({ run_id: null, task_id: null })
      .where('run_id', 'in', ids)
      .execute();
    // Their tasks' ended attempts: no foreign key ties them to the tasks that cascade below.
    await trx
      .deleteFrom('worker_assignments')
      .where('task_id', 'in', (eb) => eb.selectFrom('tasks').select('id').where('run_id', 'in', ids))
      .execute();
    const result = await trx
      .deleteFrom('workflow_runs')
      .where('id', 'in', ids)
      // Re-checked in the transaction: a run retried since it was selected is no longer finished.
      .where('status', 'in', [...FINISHED_RUN_STATUSES])
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  });
}

/** `t` (a task) has no child task left. */
const CHILDLESS = sql<boolean>`NOT EXISTS (SELECT 1 FROM tasks AS c WHERE c.parent_task_id = t.id)`;

/**
 * One batch of finished tasks of no run that ended before `cutoff` and have no child task left:
 * a child cascades from its parent, so a parent goes only after its children (one still running
 * keeps it). Their metrics are detached, as a run's are; their attempts' rows, which no foreign
 * key ties to the task, go with them; logs, messages and waitpoints cascade.
 */
async function deleteFinishedTasks({ store, db, cutoff, owners, batch }: DeleteBatch): Promise<number> {
  const ids = (
    await db
      .selectFrom('tasks as t')
      .select('t.id')
      .where('t.run_id', 'is', null)
      .where('t.completed_at', '<', cutoff)
      .where('t.status', 'in', [...ENDED_TASK_STATUSES])
      .where(ownedBy(owners, 't.owner_id'))
      .where(CHILDLESS)
      .orderBy('t.completed_at')
      .limit(batch)
      .execute()
  ).map((r) => r.id);
  if (ids.length === 0) return 0;
  const { dialect } = store;
  return dialect.writeTransaction(db, async (trx) => {
    // Re-checked and locked in the transaction (SQLite's holds the only write lock): a task
    // retried since it was selected is no longer ended.
    const query = trx
      .selectFrom('tasks as t')
      .select('t.id')
      .where('t.id', 'in', ids)
      .where('t.status', 'in', [...ENDED_TASK_STATUSES])
      .where(CHILDLESS);
    const still = (await (dialect.capabilities.skipLocked ? query.forUpdate() : query).execute()).map(
      (r) => r.id,
    );
    if (still.length === 0) return 0;
    await trx.updateTable('metrics').set({ task_id: null }).where('task_id', 'in', still).execute();
    await trx.deleteFrom('worker_assignments').where('task_id', 'in', still).execute();
    const result = await trx.deleteFrom('tasks').where('id', 'in', still).executeTakeFirst();
    return Number(result.numDeletedRows);
  });
}

/** One batch of ended task chains that ended before `cutoff` and have no task left. */
async function deleteFinishedChains({ db, cutoff, owners, batch }: DeleteBatch): Promise<number> {
  const result = await db
    .deleteFrom('task_chains')
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('task_chains as c')
        .select('c.id')
        .where('c.status', 'in', ['COMPLETED', 'FAILED', 'CANCELLED'])
        .where('c.completed_at', '<', cutoff)
        .where(ownedBy(owners, 'c.owner_id'))
        .where((w) =>
          w.not(
            w.exists(
              w
                .selectFrom('tasks as t')
                .select(sql`1`.as('one'))
                .whereRef('t.chain_id', '=', 'c.id'),
            ),
          ),
        )
        .limit(batch),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
