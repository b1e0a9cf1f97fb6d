import type { Migration } from './ddl.js';
import { createIndex } from './ddl.js';

/**
 * Finished tasks of no run are pruned by age (`SWARM_RETENTION_TASKS_DAYS`, docs/retention.md),
 * oldest first:
 * - `idx_tasks_standalone_completed` finds them. `idx_tasks_completed` holds every finished
 *   task, runs' included: where runs are kept longer, a pass would walk all of theirs first.
 * - `idx_metrics_task` finds a deleted task's metrics, to detach them (and for the cascade of
 *   `fk_metrics_task_id`, which otherwise scans every metric for every task deleted, a run's
 *   tasks included).
 */
export const standaloneTaskRetention: Migration = {
  version: 36,
  name: 'standalone-task-retention',
  async up(db, dialect) {
    await createIndex(db, dialect, 'idx_tasks_standalone_completed', 'tasks', ['completed_at'], {
      where: 'run_id IS NULL AND completed_at IS NOT NULL',
    });
    await createIndex(db, dialect, 'idx_metrics_task', 'metrics', ['task_id'], {
      where: 'task_id IS NOT NULL',
    });
  },
};
