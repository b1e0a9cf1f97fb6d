import { between, createIndex, oneOf, table, type Migration } from './ddl.js';

export const AGENT_TYPES = ['reasoning', 'execution', 'coordination', 'analysis'] as const;
export const AGENT_STATUSES = [
  'active',
  'inactive',
  'error',
  'maintenance',
  'deprecated',
  'disabled',
] as const;
export const TRIGGER_TYPES = ['manual', 'webhook', 'schedule', 'event'] as const;
export const WORKFLOW_STATUSES = ['draft', 'active', 'paused', 'archived'] as const;
export const ORCHESTRATION_PATTERNS = [
  'hierarchical',
  'sequential',
  'concurrent',
  'round_robin',
  'mesh',
] as const;
export const RUNTIME_TYPES = ['node', 'python', 'binary', 'http', 'llm', 'builtin'] as const;

/**
 * Definitions: agents and their capabilities, workflows (a row per version), templates,
 * per-workflow agent configuration, connectors, secrets, LLM providers (seeds 000, 001, 002, 004 merged; see docs/schema.md).
 */
export const registry: Migration = {
  version: 2,
  name: 'registry',
  async up(db, dialect) {
    await table(db, dialect, 'agents')
      .id()
      .owner()
      .text('name', { notNull: true })
      .text('version', { notNull: true })
      .text('display_name')
      .text('description')
      .text('path')
      .text('type', { notNull: true, default: 'execution', check: oneOf('type', AGENT_TYPES) })
      .text('status', { notNull: true, default: 'active', check: oneOf('status', AGENT_STATUSES) })
      .json('capabilities', { notNull: true, default: { json: [] } })
      .json('permissions', { notNull: true, default: { json: [] } })
      .json('input_schema')
      .json('output_schema')
      .text('runtime_type', { notNull: true, default: 'node', check: oneOf('runtime_type', RUNTIME_TYPES) })
      .json('runtime_config', { notNull: true, default: { json: {} } })
      .integer('memory_mb', { notNull: true, default: 128, check: 'memory_mb > 0' })
      .integer('timeout_seconds', { notNull: true, default: 300, check: 'timeout_seconds > 0' })
      .json('triggers')
      .text('author')
      .json('tags', { notNull: true, default: { json: [] } })
      .json('manifest')
      .text('content_hash')
      // Remote agents (seed 001): endpoint, Ed25519 public key, registration signature.
      .text('endpoint')
      .text('public_key')
      .text('signature')
      // LLM agents (seed 002).
      .text('llm_model')
      .json('parameters', { notNull: true, default: { json: {} } })
      // Health and performance.
      .real('trust_score', { notNull: true, default: 0.5, check: between('trust_score', 0, 1) })
      .integer('health_score', { notNull: true, default: 100, check: between('health_score', 0, 100) })
      .real('success_rate', { check: between('success_rate', 0, 1) })
      .integer('total_tasks_completed', { notNull: true, default: 0, check: 'total_tasks_completed >= 0' })
      .integer('total_tasks_failed', { notNull: true, default: 0, check: 'total_tasks_failed >= 0' })
      .real('avg_completion_time_seconds')
      .timestamp('last_seen_at')
      .timestamp('last_assigned_at')
      .timestamp('last_task_completed_at')
      .timestamps()
      .unique('name_version', ['owner_id', 'name', 'version'])
      .create();
    await createIndex(db, dialect, 'idx_agents_name', 'agents', ['name']);
    await createIndex(db, dialect, 'idx_agents_trust', 'agents', ['trust_score desc']);
    await createIndex(db, dialect, 'idx_agents_capabilities', 'agents', ['capabilities'], {
      postgresUsing: 'gin',
    });
    await createIndex(db, dialect, 'idx_agents_tags', 'agents', ['tags'], { postgresUsing: 'gin' });

    await table(db, dialect, 'agent_capabilities')
      .id()
      .owner()
      .text('agent_id', { notNull: true, references: { table: 'agents', onDelete: 'cascade' } })
      .text('name', { notNull: true })
      .text('description')
      .text('version')
      .json('input_schema', { notNull: true, default: { json: {} } })
      .json('output_schema', { notNull: true, default: { json: {} } })
      .text('pricing_model')
      .real('price')
      .text('currency', { notNull: true, default: 'USD' })
      .integer('latency_p99_ms')
      .real('availability_percent', { check: between('availability_percent', 0, 100) })
      .boolean('deprecated', { notNull: true, default: false })
      .timestamps()
      .create();
    await createIndex(db, dialect, 'idx_agent_capabilities_agent', 'agent_capabilities', ['agent_id']);
    await createIndex(db, dialect, 'idx_agent_capabilities_name', 'agent_capabilities', ['name']);

    await table(db, dialect, 'workflows')
      .id()
      .owner()
      .text('name', { notNull: true })
      .text('version', { notNull: true })
      .text('description')
      .text('path')
      .text('trigger_type', { check: oneOf('trigger_type', TRIGGER_TYPES) })
      .json('trigger_config')
      // The normalised DAG the engine runs; `definition` keeps the document as the user wrote it.
      .json('steps', { notNull: true })
      .json('definition')
      .json('variables', { notNull: true, default: { json: {} } })
      .json('on_error')
      .json('on_success')
      .text('orchestration_pattern', { check: oneOf('orchestration_pattern', ORCHESTRATION_PATTERNS) })
      .json('configuration', { notNull: true, default: { json: {} } })
      .boolean('enabled', { notNull: true, default: true })
      .text('status', { notNull: true, default: 'active', check: oneOf('status', WORKFLOW_STATUSES) })
      .text('content_hash')
      .text('author')
      .json('tags', { notNull: true, default: { json: [] } })
      .timestamps()
      .unique('name_version', ['owner_id', 'name', 'version'])
      .create();
    await createIndex(db, dialect, 'idx_workflows_trigger', 'workflows', ['trigger_type']);
    await createIndex(db, dialect, 'idx_workflows_enabled', 'workflows', ['enabled']);

    await table(db, dialect, 'workflow_templates')
      .id()
      .owner()
      .text('name', { notNull: true })
      .text('description')
      .text('orchestration_pattern', { check: oneOf('orchestration_pattern', ORCHESTRATION_PATTERNS) })
      .json('template_data', { notNull: true })
      .boolean('is_public', { notNull: true, default: false })
      .timestamps()
      .create();

    await table(db, dialect, 'agent_configurations')
      .id()
      .owner()
      .text('agent_id', { notNull: true, references: { table: 'agents', onDelete: 'cascade' } })
      .text('workflow_id', { references: { table: 'workflows', onDelete: 'cascade' } })
      .json('parameters', { notNull: true, default: { json: {} } })
      .text('llm_model')
      .text('system_prompt')
      .timestamps()
      .create();
    await createIndex(db, dialect, 'idx_agent_configurations_agent', 'agent_configurations', [
      'agent_id',
      'workflow_id',
    ]);

    await table(db, dialect, 'connectors')
      .id()
      .owner()
      .text('name', { notNull: true })
      .text('type', { notNull: true })
      .text('version')
      .boolean('active', { notNull: true, default: true })
      .json('config', { notNull: true, default: { json: {} } })
      .text('secrets_ref')
      .timestamps()
      .unique('name', ['owner_id', 'name'])
      .create();

    await table(db, dialect, 'secrets')
      .id()
      .owner()
      .text('workflow_id', { references: { table: 'workflows', onDelete: 'cascade' } })
      .text('name', { notNull: true })
      .blob('encrypted_value', { notNull: true })
      // 0 marks a value imported from a legacy registry, encrypted under a key Swarm does not hold.
      .integer('key_version', { notNull: true, check: 'key_version >= 0' })
      .text('scope', { notNull: true, default: 'global', check: oneOf('scope', ['workflow', 'global']) })
      .timestamps()
      .check(
        'scope_workflow',
        "(scope = 'global' AND workflow_id IS NULL) OR (scope = 'workflow' AND workflow_id IS NOT NULL)",
      )
      .unique('workflow_name', ['owner_id', 'workflow_id', 'name'])
      .create();
    await createIndex(db, dialect, 'uq_secrets_global_name', 'secrets', ['owner_id', 'name'], {
      unique: true,
      where: 'workflow_id IS NULL',
    });

    await table(db, dialect, 'llm_providers')
      .id()
      .owner()
      .text('name', { notNull: true })
      .text('provider', {
        notNull: true,
        check: oneOf('provider', ['openai', 'anthropic', 'ollama', 'custom']),
      })
      .text('model')
      .text('api_key_secret_id', { references: { table: 'secrets', onDelete: 'set null' } })
      .text('base_url')
      .boolean('active', { notNull: true, default: true })
      .boolean('is_default', { notNull: true, default: false })
      .json('configuration', { notNull: true, default: { json: {} } })
      .timestamps()
      .unique('name', ['owner_id', 'name'])
      .create();
  },
};
