import { between, createIndex, oneOf, table, type Migration } from './ddl.js';

export const TASK_STATUSES = [
  'PENDING',
  'ASSIGNED',
  'RUNNING',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  // Beyond seed 001: a step whose `when` is false, and a task past its `expires_at`.
  'SKIPPED',
  'EXPIRED',
] as const;
export const CHAIN_STATUSES = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export const ROUTING_STRATEGIES = [
  'round_robin',
  'least_loaded',
  'trust_weighted',
  'fastest',
  'random',
] as const;
export const RETRY_POLICIES = ['fixed', 'linear', 'exponential'] as const;

/**
 * The durable queue: every step execution of a run and every standalone task is a row of
 * `tasks`; chains, templates and cron-scheduled tasks feed it; worker assignments record
 * who holds what (seed 001 tasks, seed 000/003 step_executions, seed 003 vm_assignments).
 */
export const queue: Migration = {
  version: 4,
  name: 'queue',
  async up(db, dialect) {
    await table(db, dialect, 'task_templates')
      .id()
      .owner()
      .text('name', { notNull: true })
      .text('description')
      .text('task_type', { notNull: true })
      .text('capability_required', { notNull: true })
      .json('default_input_data', { notNull: true, default: { json: {} } })
      .integer('default_priority', { notNull: true, default: 5, check: between('default_priority', 1, 10) })
      .integer('default_timeout', { notNull: true, default: 300, check: 'default_timeout > 0' })
      .integer('default_max_retries', { notNull: true, default: 3, check: 'default_max_retries >= 0' })
      .integer('times_used', { notNull: true, default: 0 })
      .timestamps()
      .unique('name', ['owner_id', 'name'])
      .create();

    await table(db, dialect, 'task_chains')
      .id()
      .owner()
      .text('name', { notNull: true })
      .json('steps', { notNull: true })
      .integer('current_step', { notNull: true, default: 0 })
      .text('status', { notNull: true, default: 'PENDING', check: oneOf('status', CHAIN_STATUSES) })
      .json('step_results', { notNull: true, default: { json: {} } })
      .json('final_result')
      .text('error_message')
      .timestamp('started_at')
      .timestamp('completed_at')
      .createdAt()
      .create();
    await createIndex(db, dialect, 'idx_task_chains_owner', 'task_chains', ['owner_id', 'created_at desc']);
    await createIndex(db, dialect, 'idx_task_chains_status', 'task_chains', ['status']);

    await table(db, dialect, 'scheduled_tasks')
      .id()
      .owner()
      .text('name', { notNull: true })
      .text('cron_expression', { notNull: true })
      .text('timezone', { notNull: true, default: 'UTC' })
      .text('task_type', { notNull: true })
      .text('capability_required', { notNull: true })
      .json('input_data', { notNull: true, default: { json: {} } })
      .integer('priority', { notNull: true, default: 5, check: between('priority', 1, 10) })
      .integer('timeout_seconds', { notNull: true, default: 300, check: 'timeout_seconds > 0' })
      .boolean('active', { notNull: true, default: true })
      .timestamp('last_run_at')
      .timestamp('next_run_at')
      .integer('total_runs', { notNull: true, default: 0 })
      .integer('successful_runs', { notNull: true, default: 0 })
      .integer('failed_runs', { notNull: true, default: 0 })
      .timestamps()
      .create();
    await createIndex(db, dialect, 'idx_scheduled_tasks_next_run', 'scheduled_tasks', [
      'active',
      'next_run_at',
    ]);
    await createIndex(db, dialect, 'idx_scheduled_tasks_owner', 'scheduled_tasks', ['owner_id']);

    await table(db, dialect, 'tasks')
      .id()
      .owner()
      // A step of a run, or standalone (run_id NULL).
      .text('run_id', { references: { table: 'workflow_runs', onDelete: 'cascade' } })
      .text('step_id')
      .integer('item_index')
      .text('agent_id', { references: { table: 'agents', onDelete: 'set null' } })
      .text('agent_name')
      .text('agent_version')
      .text('task_type', { notNull: true, default: 'step' })
      .text('capability_required')
      .integer('priority', { notNull: true, default: 5, check: between('priority', 1, 10) })
      .json('input_data', { notNull: true, default: { json: {} } })
      .json('task_metadata')
      .text('status', { notNull: true, default: 'PENDING', check: oneOf('status', TASK_STATUSES) })
      // Claimable from this moment: creation, or the next retry.
      .timestamp('run_at', { notNull: true, default: 'now' })
      .text('assigned_agent_id', { references: { table: 'agents', onDelete: 'set null' } })
      .timestamp('assigned_at')
      .timestamp('started_at')
      .timestamp('completed_at')
      .json('result_data')
      .text('error_message')
      .text('error_code')
      .text('last_error')
      // Retries.
      .integer('max_retries', { notNull: true, default: 3, check: 'max_retries >= 0' })
      .integer('retry_count', { notNull: true, default: 0, check: 'retry_count >= 0' })
      .timestamp('next_retry_at')
      .text('retry_policy', {
        notNull: true,
        default: 'exponential',
        check: oneOf('retry_policy', RETRY_POLICIES),
      })
      .json('retry_options', { notNull: true, default: { json: {} } })
      // Lease: who holds it, until when, and the fencing token that invalidates a lost lease.
      .text('locked_by')
      .timestamp('locked_until')
      .integer('lease_epoch', { notNull: true, default: 0 })
      .timestamp('heartbeat_at')
      .text('worker_id')
      // Limits and cancellation.
      .integer('timeout_seconds', { check: 'timeout_seconds > 0' })
      .timestamp('expires_at')
      .timestamp('cancelled_at')
      .text('cancelled_by')
      .text('cancellation_reason')
      // Dependencies and routing (seed 001, sprint 7).
      .json('depends_on', { notNull: true, default: { json: [] } })
      .json('blocked_by', { notNull: true, default: { json: [] } })
      .boolean('is_blocked', { notNull: true, default: false })
      .text('routing_strategy', {
        notNull: true,
        default: 'round_robin',
        check: oneOf('routing_strategy', ROUTING_STRATEGIES),
      })
      // Flow control (concurrency and rate limits keyed by an expression) claims by this key.
      .text('concurrency_key')
      .text('chain_id', { references: { table: 'task_chains', onDelete: 'set null' } })
      .text('template_id', { references: { table: 'task_templates', onDelete: 'set null' } })
      .text('scheduled_task_id', { references: { table: 'scheduled_tasks', onDelete: 'set null' } })
      .text('idempotency_key')
      // Totals of the attempt.
      .bigint('duration_ms')
      .bigint('api_tokens_used', { notNull: true, default: 0 })
      .real('cost', { notNull: true, default: 0 })
      .timestamps()
      .create();
    // The claim path: ready tasks by priority, then age.
    await createIndex(db, dialect, 'idx_tasks_ready', 'tasks', ['priority desc', 'run_at', 'id'], {
      where: "status = 'PENDING'",
    });
    // Lease reclaim: held tasks by lease expiry.
    await createIndex(db, dialect, 'idx_tasks_leases', 'tasks', ['locked_until'], {
      where: "status IN ('ASSIGNED', 'RUNNING')",
    });
    await createIndex(db, dialect, 'idx_tasks_run_step', 'tasks', ['run_id', 'step_id', 'item_index']);
    await createIndex(db, dialect, 'idx_tasks_owner_created', 'tasks', ['owner_id', 'created_at desc']);
    await createIndex(
      db,
      dialect,
      'idx_tasks_capability_ready',
      'tasks',
      ['capability_required', 'priority desc'],
      {
        where: "status = 'PENDING'",
      },
    );
    await createIndex(db, dialect, 'idx_tasks_assigned_agent', 'tasks', ['assigned_agent_id']);
    await createIndex(db, dialect, 'idx_tasks_chain', 'tasks', ['chain_id']);
    await createIndex(db, dialect, 'idx_tasks_depends_on', 'tasks', ['depends_on'], { postgresUsing: 'gin' });
    await createIndex(db, dialect, 'uq_tasks_idempotency', 'tasks', ['owner_id', 'idempotency_key'], {
      unique: true,
      where: 'idempotency_key IS NOT NULL',
    });

    await table(db, dialect, 'worker_assignments')
      .id()
      .text('worker_id', { notNull: true })
      // Not a foreign key: legacy vm_assignments point at tickets of other systems.
      .text('task_id', { notNull: true })
      .text('run_id')
      .integer('lease_epoch')
      .text('status', {
        notNull: true,
        default: 'running',
        check: oneOf('status', ['running', 'completed', 'released', 'lost']),
      })
      .text('hostname')
      .integer('pid')
      .timestamp('assigned_at', { notNull: true, default: 'now' })
      .timestamp('heartbeat_at')
      .timestamp('released_at')
      .create();
    await createIndex(db, dialect, 'idx_worker_assignments_worker', 'worker_assignments', [
      'worker_id',
      'status',
    ]);
    await createIndex(db, dialect, 'idx_worker_assignments_task', 'worker_assignments', ['task_id']);
  },
};
