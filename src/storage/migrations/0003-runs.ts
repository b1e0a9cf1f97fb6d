import { createIndex, oneOf, table, type Migration } from './ddl.js';
import { TRIGGER_TYPES } from './0002-registry.js';

export const RUN_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled', 'timeout'] as const;

/** Triggers and workflow runs (seed 000 `triggers`/`workflow_runs`, seed 004 `workflow_runs`). */
export const runs: Migration = {
  version: 3,
  name: 'runs',
  async up(db, dialect) {
    await table(db, dialect, 'triggers')
      .id()
      .owner()
      .text('workflow_id', { notNull: true, references: { table: 'workflows', onDelete: 'cascade' } })
      .text('type', { notNull: true, check: oneOf('type', TRIGGER_TYPES) })
      .text('webhook_path', { unique: true })
      .text('webhook_secret')
      .text('cron_expression')
      .text('timezone', { notNull: true, default: 'UTC' })
      .text('misfire_policy', {
        notNull: true,
        default: 'skip',
        check: oneOf('misfire_policy', ['skip', 'catch_up']),
      })
      .timestamp('next_run_at')
      .timestamp('last_run_at')
      .text('event_source')
      .text('event_type')
      .json('config', { notNull: true, default: { json: {} } })
      .boolean('enabled', { notNull: true, default: true })
      .timestamps()
      .create();
    await createIndex(db, dialect, 'idx_triggers_workflow', 'triggers', ['workflow_id']);
    await createIndex(db, dialect, 'idx_triggers_schedule', 'triggers', ['next_run_at'], {
      where: "type = 'schedule'",
    });
    await createIndex(db, dialect, 'idx_triggers_event', 'triggers', ['event_source', 'event_type'], {
      where: "type = 'event'",
    });

    await table(db, dialect, 'workflow_runs')
      .id()
      .owner()
      .text('workflow_id', { notNull: true, references: { table: 'workflows', onDelete: 'restrict' } })
      .text('workflow_name')
      .text('workflow_version')
      .text('status', { notNull: true, default: 'pending', check: oneOf('status', RUN_STATUSES) })
      .text('current_step')
      .text('trigger_type', { check: oneOf('trigger_type', TRIGGER_TYPES) })
      .text('trigger_id', { references: { table: 'triggers', onDelete: 'set null' } })
      .json('trigger_data')
      .json('input')
      .json('step_results', { notNull: true, default: { json: {} } })
      .json('result')
      .text('error')
      .text('error_step')
      .integer('attempt', { notNull: true, default: 1, check: 'attempt >= 1' })
      .text('parent_run_id', { references: { table: 'workflow_runs', onDelete: 'set null' } })
      .boolean('is_replay', { notNull: true, default: false })
      .text('idempotency_key')
      .text('started_by', { references: { table: 'users', onDelete: 'set null' } })
      .text('cancelled_by')
      .text('cancellation_reason')
      .timestamp('started_at')
      .timestamp('completed_at')
      .timestamp('timeout_at')
      .bigint('duration_ms')
      .bigint('total_vm_time_ms', { notNull: true, default: 0 })
      .bigint('total_cpu_time_ms', { notNull: true, default: 0 })
      .bigint('total_api_tokens', { notNull: true, default: 0 })
      .real('total_cost', { notNull: true, default: 0 })
      .timestamps()
      .create();
    await createIndex(db, dialect, 'idx_runs_workflow', 'workflow_runs', ['workflow_id']);
    await createIndex(db, dialect, 'idx_runs_status', 'workflow_runs', ['status']);
    await createIndex(db, dialect, 'idx_runs_owner_created', 'workflow_runs', [
      'owner_id',
      'created_at desc',
    ]);
    await createIndex(db, dialect, 'idx_runs_started', 'workflow_runs', ['started_at']);
    await createIndex(
      db,
      dialect,
      'uq_runs_idempotency',
      'workflow_runs',
      ['owner_id', 'workflow_id', 'idempotency_key'],
      {
        unique: true,
        where: 'idempotency_key IS NOT NULL',
      },
    );
  },
};
