import { createIndex, type Migration } from './ddl.js';

/**
 * Run deadlines and end-of-run handlers. `timeout_at` (migration 0003) gets a partial index so
 * the sweep that times runs out reads only running runs that have a deadline; `handlers` keeps a
 * run's on_error / on_success handlers with the agent versions pinned at start and their states;
 * execution logs are indexed for reading a run's log from a cursor.
 */
export const runDeadlines: Migration = {
  version: 7,
  name: 'run-deadlines',
  async up(db, dialect) {
    await db.schema.alterTable('workflow_runs').addColumn('handlers', dialect.type('json')).execute();
    // A run's log is read in id order (uuidv7: time order) from a cursor: (run_id, id) serves
    // that and everything (run_id, created_at) did.
    await db.schema.dropIndex('idx_execution_logs_run').execute();
    await createIndex(db, dialect, 'idx_execution_logs_run_id', 'execution_logs', ['run_id', 'id']);
    await createIndex(db, dialect, 'idx_runs_timeout', 'workflow_runs', ['timeout_at'], {
      where: "status = 'running' AND timeout_at IS NOT NULL",
    });
  },
};
