import { sql } from 'kysely';
import type { RetentionPolicy } from '../config/index.js';
import type { Engine } from '../engine/index.js';
import { toDbBool, toDbTimestamp, type Store } from '../storage/index.js';
import { pruneIdleFlowKeys } from '../queue/index.js';
import { historyDb } from './tables.js';
import { deleteInBatches, pruneWork } from './work-retention.js';

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
  /** Flow-control keys no unfinished task is under any more (src/queue/flow/prune.ts). */
  flowKeys: number;
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
    flowKeys: 0,
  };

  const drain = async (kind: keyof PruneReport, deleteBatch: () => Promise<number>) => {
    report[kind] += await deleteInBatches(deleteBatch, { batch, stop });
  };

  const work = await pruneWork(store, engine, policy, { before, batch, stop });
  report.runs += work.runs;
  report.tasks += work.tasks;
  report.chains += work.chains;
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
  // Not a record and not kept for any number of days: a key is deleted once nothing needs it.
  if (!stop())
    report.flowKeys = await pruneIdleFlowKeys(store.handle.db, store.handle.dialect, { now, stop });
  return report;
}
