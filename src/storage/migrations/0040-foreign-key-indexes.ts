import type { Migration } from './ddl.js';
import { createIndex } from './ddl.js';

/**
 * Foreign keys whose parent rows Swarm deletes, indexed on the child's side. Deleting a parent
 * row makes the database find its children (to delete them, clear the column, or refuse): without
 * an index that is a scan of the whole child table for every parent row deleted, on PostgreSQL
 * and on SQLite alike. The run pruner deletes runs in batches, so each batch scanned `metrics`
 * and `events` once per run: 500 runs with 300,000 metrics and 100,000 events took 13.2 s on
 * PostgreSQL, 51 ms with these indexes.
 *
 * - `metrics.run_id`, `events.run_id`: a run's (cascade; cleared).
 * - `consensus_results.task_id`: a task's (cascade), when tasks are pruned.
 * - `workflow_runs.trigger_id`: a deleted trigger's runs (cleared).
 * - `tasks.template_id`, `tasks.scheduled_task_id`: a deleted template's or schedule's tasks
 *   (cleared; on PostgreSQL by 0039's triggers, which look them up the same way).
 * - `llm_providers.api_key_secret_id`: a deleted secret's providers (cleared).
 *
 * Partial, as 0036's `idx_metrics_task`: rows without the reference are never looked up.
 * test/storage/foreign-key-indexes.test.ts keeps every such key indexed from now on.
 */
export const foreignKeyIndexes: Migration = {
  version: 40,
  name: 'foreign-key-indexes',
  async up(db, dialect) {
    for (const [name, table, column] of [
      ['idx_metrics_run', 'metrics', 'run_id'],
      ['idx_events_run', 'events', 'run_id'],
      ['idx_consensus_results_task', 'consensus_results', 'task_id'],
      ['idx_runs_trigger', 'workflow_runs', 'trigger_id'],
      ['idx_tasks_template', 'tasks', 'template_id'],
      ['idx_tasks_scheduled', 'tasks', 'scheduled_task_id'],
      ['idx_llm_providers_secret', 'llm_providers', 'api_key_secret_id'],
    ] as const)
      await createIndex(db, dialect, name, table, [column], { where: `${column} IS NOT NULL` });
  },
};
