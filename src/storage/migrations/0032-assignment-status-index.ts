import type { Migration } from './ddl.js';

/**
 * `idx_worker_assignments_worker (worker_id, status)` served finding a worker's `running`
 * assignments. Assignments are now written once, when an attempt ends (src/queue/assignments.ts),
 * and the running attempts are the RUNNING tasks themselves: every reader finds assignments by
 * task (`idx_worker_assignments_task`), so the index only cost each insert an entry.
 */
export const dropAssignmentStatusIndex: Migration = {
  version: 32,
  name: 'drop-assignment-status-index',
  async up(db) {
    await db.schema.dropIndex('idx_worker_assignments_worker').execute();
  },
};
