import { createIndex, type Migration } from './ddl.js';

/**
 * Run deadlines and end-of-run handlers. `timeout_at` (migration 0003) gets a partial index so
 * the sweep that times runs out reads only running runs that have a deadline; `handlers` keeps a
 * run's on_error / on_success handlers with the agent versions pinned at start and their states.
 */
export const runDeadlines: Migration = {
  version: 7,
  name: 'run-deadlines',
  async up(db, dialect) {
    await db.schema.alterTable('workflow_runs').addColumn('handlers', dialect.type('json')).execute();
    await createIndex(db, dialect, 'idx_runs_timeout', 'workflow_runs', ['timeout_at'], {
      where: "status = 'running' AND timeout_at IS NOT NULL",
    });
  },
};
