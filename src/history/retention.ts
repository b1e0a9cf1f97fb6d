import { sql } from 'kysely';
import type { RetentionPolicy } from '../config/index.js';
import type { Engine } from '../engine/index.js';
import { toDbBool, toDbTimestamp, type Store } from '../storage/index.js';
import { ENDED_TASK_STATUSES } from '../tasks/index.js';
import { archiveFinishedRuns } from './archive.js';
import { FINISHED_RUN_STATUSES, historyDb, type HistoryDb } from './tables.js';

const DAY_MS = 86_400_000;

/** Rows deleted per kind by one pruning pass. */
export interface PruneReport {
  runs: number;
  /** Finished tasks of no run. */
  tasks: number;
  /** Finished task chains. */
  chains: number;
  logs: number;
  messages: number;
  metrics: number;
  alerts: number;
  history: number;
}

export interface PruneOptions {
  readonly now?: Date;
  /** Rows per DELETE, so a backlog never holds one long lock. @default 1000 */
  readonly batch?: number;
  /** Asked between batches: true stops the pass (the server is closing). */
  readonly stop?: () => boolean;
}

/**
 * Deletes records past the retention policy, a batch at a time until none are left. Finished
 * runs go only once archived: everything finished is archived first, and the DELETE itself
 * requires the run's history row, so a run the archiver has not reached stays. Their metrics
 * are detached (run and task cleared), not deleted with them, so usage keeps its own retention.
 * Messages of a run go only once the run is archived (its conversation is in the history).
 */
export async function pruneRecords(
  store: Store,
  engine: Engine,
  policy: RetentionPolicy,
  options: PruneOptions = {},
): Promise<PruneReport> {
  const now = options.now ?? new Date();
  const batch = options.batch ?? 1000;
  const stop = options.stop ?? (() => false);
  const db = historyDb(store.handle.db);
  const before = (days: number) => toDbTimestamp(new Date(now.getTime() - days * DAY_MS));
  const report: PruneReport = {
    runs: 0,
    tasks: 0,
    chains: 0,
    logs: 0,
    messages: 0,
    metrics: 0,
    alerts: 0,
    history: 0,
  };

  const drain = async (kind: keyof PruneReport, deleteBatch: () => Promise<number>) => {
    for (;;) {
      const deleted = await deleteBatch();
      report[kind] += deleted;
      if (deleted < batch || stop()) return;
    }
  };

  if (policy.runsDays > 0) {
    while ((await archiveFinishedRuns(store, engine, 100)) > 0 && !stop());
    const cutoff = before(policy.runsDays);
    await drain('runs', () => deleteArchivedRuns(store, db, cutoff, batch));
  }
  if (policy.tasksDays > 0) {
    const cutoff = before(policy.tasksDays);
    // A batch deletes tasks without children; their parents are next, so a parent's whole tree
    // goes in one pass, a level per batch, and a batch that finds none ends it.
    for (;;) {
      const deleted = await deleteFinishedTasks(store, db, cutoff, batch);
      report.tasks += deleted;
      if (deleted === 0 || stop()) break;
    }
    await drain('chains', () => deleteFinishedChains(db, cutoff, batch));
  }
  if (policy.logsDays > 0) {
    const cutoff = before(policy.logsDays);
    await drain('logs', async () => {
      const result = await db
        .deleteFrom('execution_logs')
        .where('id', 'in', (eb) =>
          eb.selectFrom('execution_logs').select('id').where('created_at', '<', cutoff).limit(batch),
        )
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }
  if (policy.messagesDays > 0) {
    const cutoff = before(policy.messagesDays);
    await drain('messages', async () => {
      const result = await db
        .deleteFrom('messages')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('messages as m')
            .select('m.id')
            .where('m.created_at', '<', cutoff)
            .where((w) =>
              w.or([
                w('m.run_id', 'is', null),
                w.exists(
                  w
                    .selectFrom('execution_history as h')
                    .select(sql`1`.as('one'))
                    .whereRef('h.run_id', '=', 'm.run_id'),
                ),
              ]),
            )
            .limit(batch),
        )
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }
  if (policy.metricsDays > 0) {
    const cutoff = before(policy.metricsDays);
    await drain('metrics', async () => {
      const result = await db
        .deleteFrom('metrics')
        .where('id', 'in', (eb) =>
          eb.selectFrom('metrics').select('id').where('created_at', '<', cutoff).limit(batch),
        )
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }
  if (policy.alertsDays > 0) {
    const cutoff = before(policy.alertsDays);
    await drain('alerts', async () => {
      const result = await db
        .deleteFrom('alerts')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('alerts')
            .select('id')
            .where('resolved', '=', toDbBool(true))
            .where('resolved_at', '<', cutoff)
            .limit(batch),
        )
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }
  if (policy.historyDays > 0) {
    const cutoff = before(policy.historyDays);
    await drain('history', async () => {
      const result = await db
        .deleteFrom('execution_history')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('execution_history as h')
            .select('h.id')
            .where('h.created_at', '<', cutoff)
            // A run still stored keeps its history row, or the archiver would write it again.
            .where((w) =>
              w.not(
                w.exists(
                  w
                    .selectFrom('workflow_runs as r')
                    .select(sql`1`.as('one'))
                    .whereRef('r.id', '=', 'h.run_id'),
                ),
              ),
            )
            .limit(batch),
        )
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }
  return report;
}

/** One batch of finished runs that ended before `cutoff` and are archived as they ended. */
async function deleteArchivedRuns(
  store: Store,
  db: HistoryDb,
  cutoff: string,
  batch: number,
): Promise<number> {
  const ids = (
    await db
      .selectFrom('workflow_runs as r')
      .select('r.id')
      .where('r.status', 'in', [...FINISHED_RUN_STATUSES])
      .where('r.completed_at', '<', cutoff)
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

/**
 * One batch of finished tasks of no run that ended before `cutoff` and have no child task left:
 * a child cascades from its parent, so a parent goes only after its children (one still running
 * keeps it). Their metrics are detached, as a run's are; their attempts' rows, which no foreign
 * key ties to the task, go with them; logs, messages and waitpoints cascade.
 */
async function deleteFinishedTasks(
  store: Store,
  db: HistoryDb,
  cutoff: string,
  batch: number,
): Promise<number> {
  const ids = (
    await db
      .selectFrom('tasks as t')
      .select('t.id')
      .where('t.run_id', 'is', null)
      .where('t.completed_at', '<', cutoff)
      .where('t.status', 'in', [...ENDED_TASK_STATUSES])
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

/** `t` (a task) has no child task left. */
const CHILDLESS = sql<boolean>`NOT EXISTS (SELECT 1 FROM tasks AS c WHERE c.parent_task_id = t.id)`;

/** One batch of ended task chains that ended before `cutoff` and have no task left. */
async function deleteFinishedChains(db: HistoryDb, cutoff: string, batch: number): Promise<number> {
  const result = await db
    .deleteFrom('task_chains')
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('task_chains as c')
        .select('c.id')
        .where('c.status', 'in', ['COMPLETED', 'FAILED', 'CANCELLED'])
        .where('c.completed_at', '<', cutoff)
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
