import { createIndex, type Migration } from './ddl.js';

/**
 * Forks and replays (issue 17, docs/replay.md). `workflow_runs.parent_run_id` and `is_replay`
 * exist since 0003; a fork fills them and these:
 *
 * - `workflow_runs.forked_from_step`: the step the fork ran again from (it and what depends on
 *   it ran; the rest reused the parent's recorded outputs);
 * - `workflow_runs.original_run_id`: the root of the fork chain (a fork of a fork keeps the
 *   first run's id), whose idempotency keys the replay's side effects carry. No foreign key: it
 *   is the basis of keys already sent, which must not change (or vanish) when the root is pruned;
 * - `tasks.idempotency_run_id`: that root, copied onto each task of a replay when it is
 *   enqueued, so the worker derives the key from the claimed row alone (no join, no extra
 *   query per claim); null for a task of an ordinary run (its own run id is the basis).
 *
 * The parent is indexed: a run's page lists its forks.
 */
export const runForks: Migration = {
  version: 25,
  name: 'run-forks',
  async up(db, dialect) {
    await db.schema.alterTable('workflow_runs').addColumn('forked_from_step', dialect.type('text')).execute();
    await db.schema.alterTable('workflow_runs').addColumn('original_run_id', dialect.type('text')).execute();
    await db.schema.alterTable('tasks').addColumn('idempotency_run_id', dialect.type('text')).execute();
    await createIndex(db, dialect, 'idx_runs_parent', 'workflow_runs', ['parent_run_id']);
  },
};
