import { between, createIndex, oneOf, table, type Migration } from './ddl.js';

/**
 * What happened: logs, messages, metrics, alerts, trust changes, consensus results,
 * artifacts, archived history, outgoing webhooks and their deliveries (seeds 001, 002, 003).
 */
export const records: Migration = {
  version: 5,
  name: 'records',
  async up(db, dialect) {
    const runRef = { references: { table: 'workflow_runs', onDelete: 'cascade' as const } };
    const taskRef = { references: { table: 'tasks', onDelete: 'cascade' as const } };

    await table(db, dialect, 'messages')
      .id()
      .owner()
      .text('run_id', runRef)
      .text('task_id', taskRef)
      .text('sender_id')
      .text('recipient_id')
      .text('message_type', {
        notNull: true,
        check: oneOf('message_type', ['request', 'response', 'status_update', 'error', 'broadcast']),
      })
      .json('content', { notNull: true })
      .json('metadata', { notNull: true, default: { json: {} } })
      .createdAt()
      .create();
    await createIndex(db, dialect, 'idx_messages_run', 'messages', ['run_id', 'created_at']);
    await createIndex(db, dialect, 'idx_messages_task', 'messages', ['task_id']);

    await table(db, dialect, 'execution_logs')
      .id()
      .owner()
      .text('run_id', runRef)
      .text('task_id', taskRef)
      .text('step_id')
      .text('agent_id')
      .text('event_type', {
        notNull: true,
        default: 'execution',
        check: oneOf('event_type', ['execution', 'decision', 'error', 'metric', 'state_change']),
      })
      .text('level', {
        notNull: true,
        default: 'info',
        check: oneOf('level', ['debug', 'info', 'warning', 'error', 'critical']),
      })
      .text('message', { notNull: true })
      .json('metadata', { notNull: true, default: { json: {} } })
      .createdAt()
      .create();
    await createIndex(db, dialect, 'idx_execution_logs_run', 'execution_logs', ['run_id', 'created_at']);
    await createIndex(db, dialect, 'idx_execution_logs_task', 'execution_logs', ['task_id']);

    await table(db, dialect, 'metrics')
      .id()
      .owner()
      .text('agent_id')
      .text('run_id', runRef)
      .text('task_id', taskRef)
      .text('name', { notNull: true, default: 'execution' })
      .bigint('execution_time_ms')
      .bigint('token_usage')
      .bigint('prompt_tokens')
      .bigint('completion_tokens')
      .real('estimated_cost')
      .boolean('success_flag')
      .text('provider')
      .text('model')
      .json('labels', { notNull: true, default: { json: {} } })
      .createdAt()
      .create();
    await createIndex(db, dialect, 'idx_metrics_owner_created', 'metrics', ['owner_id', 'created_at']);
    await createIndex(db, dialect, 'idx_metrics_agent', 'metrics', ['agent_id', 'created_at']);

    await table(db, dialect, 'alerts')
      .id()
      .owner()
      .text('alert_type', {
        notNull: true,
        check: oneOf('alert_type', [
          'agent_failure',
          'task_timeout',
          'system_error',
          'task_completion',
          'performance_degradation',
        ]),
      })
      .text('severity', {
        notNull: true,
        default: 'info',
        check: oneOf('severity', ['info', 'warning', 'critical']),
      })
      .text('title', { notNull: true })
      .text('message')
      .text('related_agent_id')
      .text('related_task_id')
      .text('related_run_id')
      .boolean('resolved', { notNull: true, default: false })
      .timestamp('resolved_at')
      .createdAt()
      .create();
    await createIndex(db, dialect, 'idx_alerts_open', 'alerts', ['owner_id', 'created_at desc'], {
      where: 'resolved = false',
    });

    await table(db, dialect, 'trust_records')
      .id()
      .owner()
      .text('agent_id', { notNull: true, references: { table: 'agents', onDelete: 'cascade' } })
      .text('event_type', {
        notNull: true,
        check: oneOf('event_type', ['task_completed', 'task_failed', 'task_timeout', 'manual_adjustment']),
      })
      .text('task_id')
      .real('trust_delta', { notNull: true })
      .real('trust_score_before', { notNull: true, check: between('trust_score_before', 0, 1) })
      .real('trust_score_after', { notNull: true, check: between('trust_score_after', 0, 1) })
      .text('reason')
      .createdAt()
      .create();
    await createIndex(db, dialect, 'idx_trust_records_agent_date', 'trust_records', [
      'agent_id',
      'created_at desc',
    ]);

    await table(db, dialect, 'consensus_results')
      .id()
      .owner()
      .text('run_id', runRef)
      .text('task_id', taskRef)
      .text('step_id')
      .text('consensus_type', {
        notNull: true,
        check: oneOf('consensus_type', ['voting', 'judge_based', 'mixture_of_agents']),
      })
      .json('agent_results', { notNull: true })
      .json('final_result')
      .real('confidence', { check: between('confidence', 0, 1) })
      .createdAt()
      .create();
    await createIndex(db, dialect, 'idx_consensus_results_run', 'consensus_results', ['run_id']);

    await table(db, dialect, 'execution_artifacts')
      .id()
      .owner()
      .text('run_id', runRef)
      // Legacy artifacts name a ticket of another system, so this is not a foreign key.
      .text('task_id')
      .text('artifact_type')
      .text('name')
      .text('content_type')
      .text('content')
      .blob('content_blob')
      .text('storage_path')
      .bigint('size_bytes')
      .text('sha256')
      .createdAt()
      .create();
    await createIndex(db, dialect, 'idx_execution_artifacts_task', 'execution_artifacts', ['task_id']);
    await createIndex(db, dialect, 'idx_execution_artifacts_run', 'execution_artifacts', ['run_id']);

    await table(db, dialect, 'execution_history')
      .id()
      .owner()
      .text('run_id')
      .text('task_id')
      .text('workflow_id', { references: { table: 'workflows', onDelete: 'set null' } })
      .json('input')
      .json('output')
      .json('conversation_log')
      .json('metrics')
      .bigint('execution_time_ms')
      .text('status', {
        notNull: true,
        check: oneOf('status', ['completed', 'failed', 'timeout', 'cancelled']),
      })
      .text('storage_url')
      .createdAt()
      .create();
    await createIndex(db, dialect, 'idx_execution_history_owner', 'execution_history', [
      'owner_id',
      'created_at desc',
    ]);

    await table(db, dialect, 'webhooks')
      .id()
      .owner()
      .text('name', { notNull: true })
      .text('url', { notNull: true })
      .text('secret', { notNull: true })
      .json('event_types', { notNull: true, default: { json: [] } })
      .boolean('active', { notNull: true, default: true })
      .text('description')
      .integer('failure_count', { notNull: true, default: 0 })
      .timestamp('last_delivery_at')
      .timestamps()
      .create();
    await createIndex(db, dialect, 'idx_webhooks_owner', 'webhooks', ['owner_id']);

    await table(db, dialect, 'webhook_deliveries')
      .id()
      .owner()
      .text('webhook_id', { notNull: true, references: { table: 'webhooks', onDelete: 'cascade' } })
      .text('event_id', { notNull: true })
      .text('event_type', { notNull: true })
      .json('payload', { notNull: true })
      .text('status', {
        notNull: true,
        default: 'pending',
        check: oneOf('status', ['pending', 'delivering', 'succeeded', 'failed']),
      })
      .integer('attempt_count', { notNull: true, default: 0 })
      .timestamp('next_attempt_at')
      .integer('last_status_code')
      .integer('last_latency_ms')
      .text('last_error')
      .timestamp('delivered_at')
      .createdAt()
      .create();
    await createIndex(db, dialect, 'idx_webhook_deliveries_due', 'webhook_deliveries', ['next_attempt_at'], {
      where: "status = 'pending'",
    });
    await createIndex(db, dialect, 'idx_webhook_deliveries_webhook', 'webhook_deliveries', [
      'webhook_id',
      'created_at desc',
    ]);
  },
};
