import type { ColumnType, Generated } from 'kysely';

/**
 * Row shapes as they cross the storage boundary on both dialects (see values.ts):
 * JSON is text, timestamps are ISO-8601 UTC strings, booleans are written as 0/1 and read
 * as boolean (PostgreSQL) or 0/1 (SQLite). Tables not used by code yet are added here as
 * the features that use them land.
 */
export type JsonText = string;
export type Timestamp = string;
export type DbBool = ColumnType<boolean | number, 0 | 1, 0 | 1>;
type WithDefault<T> = Generated<T>;

export interface UsersTable {
  id: string;
  name: string;
  email: string;
  password_hash: string | null;
  role: WithDefault<'admin' | 'member' | 'viewer'>;
  status: WithDefault<'active' | 'disabled'>;
  open_id: string | null;
  last_signed_in_at: Timestamp | null;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
  /** Scopes granted beyond the role's (0013). */
  grants: WithDefault<JsonText>;
  /** Most tasks of this owner running at once (0026); null: no quota. */
  max_running_tasks: number | null;
  /** Days this owner's finished runs and tasks are kept (0037); 0: forever; null: the server's. */
  retention_days: number | null;
  /** This owner's weight in fair claims (0038); null: 1. */
  claim_weight: number | null;
}

/** Connections to outside services (0002, seed 004); only the demo seed writes them so far. */
export interface ConnectorsTable {
  id: string;
  owner_id: string;
  name: string;
  type: string;
  version: string | null;
  active: ColumnType<boolean | number, 0 | 1 | undefined, 0 | 1>;
  config: WithDefault<JsonText>;
  secrets_ref: string | null;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
}

/** The dashboard's cookie sessions (0013): only the token's SHA-256 is stored. */
export interface SessionsTable {
  id: string;
  user_id: string;
  token_hash: string;
  created_at: WithDefault<Timestamp>;
  last_seen_at: WithDefault<Timestamp>;
  idle_expires_at: Timestamp;
  expires_at: Timestamp;
  ip_address: string | null;
  user_agent: string | null;
  revoked_at: Timestamp | null;
}

/** Failed sign-ins per account or source address, and the lockout they earned (0013). */
export interface LoginAttemptsTable {
  id: string;
  kind: 'account' | 'address';
  subject: string;
  failures: number;
  last_failure_at: Timestamp;
  locked_until: Timestamp | null;
}

export interface ApiKeysTable {
  id: string;
  owner_id: string;
  name: string;
  description: string | null;
  key_prefix: string;
  key_hash: string;
  scopes: WithDefault<JsonText>;
  active: ColumnType<boolean | number, 0 | 1 | undefined, 0 | 1>;
  expires_at: Timestamp | null;
  last_used_at: Timestamp | null;
  rate_limit_per_minute: WithDefault<number>;
  rate_limit_per_hour: WithDefault<number>;
  created_by: string | null;
  revoked_at: Timestamp | null;
  created_at: WithDefault<Timestamp>;
}

export interface AuditLogsTable {
  id: string;
  owner_id: string | null;
  actor_id: string | null;
  key_id: string | null;
  event_type: string;
  action: string;
  resource_type: string | null;
  resource_id: string | null;
  ip_address: string | null;
  user_agent: string | null;
  success: DbBool;
  error_message: string | null;
  extra_metadata: WithDefault<JsonText>;
  created_at: WithDefault<Timestamp>;
}

/** Migration 0001 (seed 001): requests granted per API key and fixed window (src/auth/rate-limit.ts). */
export interface RateLimitTrackerTable {
  id: string;
  key_id: string;
  window_start: Timestamp;
  window_type: 'minute' | 'hour';
  request_count: WithDefault<number>;
}

/** Migration 0017: an owner's spending cap on model calls per UTC day or month. */
export interface OwnerBudgetsTable {
  id: string;
  owner_id: string;
  period: 'day' | 'month';
  max_tokens: number | null;
  max_cost_usd: number | null;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
}

/** Migration 0017: requests and tokens sent to one provider of an owner in one minute. */
export interface ProviderUsageWindowsTable {
  id: string;
  owner_id: string;
  provider: string;
  window_start: Timestamp;
  requests: WithDefault<number>;
  tokens: WithDefault<number>;
}

/** Migration 0012: failed authentications, counted per window (src/auth/failures.ts). */
export interface AuthFailuresTable {
  id: string;
  owner_id: string | null;
  kind: 'api_key' | 'webhook';
  window_start: Timestamp;
  ip_address: string;
  key_prefix: string;
  resource_id: string;
  reason: string;
  attempts: number;
  first_at: Timestamp;
  last_at: Timestamp;
  user_agent: string | null;
}

export interface AgentsTable {
  id: string;
  owner_id: string;
  name: string;
  version: string;
  display_name: string | null;
  description: string | null;
  path: string | null;
  type: WithDefault<string>;
  status: WithDefault<string>;
  capabilities: WithDefault<JsonText>;
  permissions: WithDefault<JsonText>;
  input_schema: JsonText | null;
  output_schema: JsonText | null;
  runtime_type: WithDefault<string>;
  runtime_config: WithDefault<JsonText>;
  memory_mb: WithDefault<number>;
  timeout_seconds: WithDefault<number>;
  /** Most of its tasks RUNNING at once, per owner (migration 0033); null: no limit. */
  max_concurrency: number | null;
  triggers: JsonText | null;
  author: string | null;
  tags: WithDefault<JsonText>;
  manifest: JsonText | null;
  content_hash: string | null;
  endpoint: string | null;
  public_key: string | null;
  signature: string | null;
  llm_model: string | null;
  parameters: WithDefault<JsonText>;
  trust_score: WithDefault<number>;
  health_score: WithDefault<number>;
  total_tasks_completed: WithDefault<number>;
  total_tasks_failed: WithDefault<number>;
  success_rate: number | null;
  avg_completion_time_seconds: number | null;
  last_seen_at: Timestamp | null;
  last_assigned_at: Timestamp | null;
  last_task_completed_at: Timestamp | null;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
}

export interface WorkflowsTable {
  id: string;
  owner_id: string;
  name: string;
  version: string;
  description: string | null;
  path: string | null;
  trigger_type: string | null;
  trigger_config: JsonText | null;
  steps: JsonText;
  definition: JsonText | null;
  variables: WithDefault<JsonText>;
  on_error: JsonText | null;
  on_success: JsonText | null;
  enabled: ColumnType<boolean | number, 0 | 1 | undefined, 0 | 1>;
  status: WithDefault<string>;
  orchestration_pattern: string | null;
  configuration: WithDefault<JsonText>;
  content_hash: string | null;
  author: string | null;
  tags: WithDefault<JsonText>;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
}

export interface WorkflowRunsTable {
  id: string;
  owner_id: string;
  workflow_id: string;
  workflow_name: string | null;
  workflow_version: string | null;
  status: WithDefault<string>;
  current_step: string | null;
  trigger_type: string | null;
  trigger_data: JsonText | null;
  trigger_id: string | null;
  step_results: WithDefault<JsonText>;
  input: JsonText | null;
  result: JsonText | null;
  attempt: WithDefault<number>;
  started_by: string | null;
  cancelled_by: string | null;
  cancellation_reason: string | null;
  duration_ms: number | null;
  error: string | null;
  error_step: string | null;
  started_at: Timestamp | null;
  completed_at: Timestamp | null;
  timeout_at: Timestamp | null;
  /** Migration 0007: the run's on_error / on_success handlers, pinned, with their states. */
  handlers: JsonText | null;
  total_vm_time_ms: WithDefault<number>;
  total_api_tokens: WithDefault<number>;
  total_cost: WithDefault<number>;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
  /** Migration 0010: the depth of the event that started the run; 0 when no event did. */
  event_depth: WithDefault<number>;
  /** Migration 0015: the run span's trace context (src/telemetry/run-trace.ts); null with tracing off. */
  trace_context: string | null;
  /** Since 0003: the run this one was forked from (null when the parent is deleted). */
  parent_run_id: string | null;
  is_replay: ColumnType<boolean | number, 0 | 1 | undefined, 0 | 1>;
  /** Migration 0025: the step a fork ran again from. */
  forked_from_step: string | null;
  /** Migration 0025: the root of a fork chain, whose idempotency keys a replay keeps. */
  original_run_id: string | null;
  /** Migration 0027: the value of the workflow's `concurrency.key` for this run, and its limit. */
  concurrency_key: string | null;
  concurrency_limit: number | null;
}

export interface TasksTable {
  id: string;
  owner_id: string;
  run_id: string | null;
  step_id: string | null;
  item_index: number | null;
  agent_id: string | null;
  agent_name: string | null;
  agent_version: string | null;
  task_type: WithDefault<string>;
  capability_required: string | null;
  priority: WithDefault<number>;
  input_data: WithDefault<JsonText>;
  task_metadata: JsonText | null;
  status: WithDefault<string>;
  run_at: WithDefault<Timestamp>;
  assigned_agent_id: string | null;
  assigned_at: Timestamp | null;
  started_at: Timestamp | null;
  completed_at: Timestamp | null;
  result_data: JsonText | null;
  error_message: string | null;
  error_code: string | null;
  last_error: string | null;
  max_retries: WithDefault<number>;
  retry_count: WithDefault<number>;
  next_retry_at: Timestamp | null;
  retry_policy: WithDefault<string>;
  retry_options: WithDefault<JsonText>;
  locked_by: string | null;
  locked_until: Timestamp | null;
  lease_epoch: WithDefault<number>;
  heartbeat_at: Timestamp | null;
  worker_id: string | null;
  timeout_seconds: number | null;
  expires_at: Timestamp | null;
  cancelled_at: Timestamp | null;
  cancelled_by: string | null;
  cancellation_reason: string | null;
  depends_on: WithDefault<JsonText>;
  blocked_by: WithDefault<JsonText>;
  is_blocked: ColumnType<boolean | number, 0 | 1 | undefined, 0 | 1>;
  routing_strategy: WithDefault<string>;
  concurrency_key: string | null;
  chain_id: string | null;
  template_id: string | null;
  scheduled_task_id: string | null;
  idempotency_key: string | null;
  duration_ms: number | null;
  api_tokens_used: WithDefault<number>;
  cost: WithDefault<number>;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
  /** Migration 0011: leases that expired under the task (its worker died or stalled). */
  lease_losses: WithDefault<number>;
  /** Migration 0011: what a runtime that slept (builtin/delay) left for the attempt resuming it. */
  resume_state: JsonText | null;
  /** Migration 0015: the run span's `traceparent`, the parent of the attempt's span; null with tracing off. */
  trace_context: string | null;
  /** Migration 0016: the task this one was spawned by (an agent loop's tool call), woken when it ends. */
  parent_task_id: string | null;
  /** Migration 0025: a replay's tasks carry the root run of its fork chain: their idempotency keys' basis. */
  idempotency_run_id: string | null;
  /** Migration 0026: every flow key of a keyed task (JSON text); null when unkeyed. */
  flow_keys: string | null;
  /** Migration 0026: the key a refused keyed task waits under, off the ready indexes. */
  parked_key: string | null;
}

/** Migration 0026: one flow-control key, its limits, and hints of its parked tasks. */
export interface FlowKeysTable {
  id: string;
  key: string;
  owner_id: string;
  scope: string;
  max_running: number | null;
  rate_limit: number | null;
  period_ms: number | null;
  wake_at: Timestamp | null;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
  /** Migration 0041: some task holds the key as other than its first (its slots count). */
  slotted: ColumnType<boolean | number, 0 | 1 | undefined, 0 | 1>;
}

/** Migration 0026: a concurrency slot, live while its task is RUNNING at this lease_epoch. */
export interface FlowSlotsTable {
  id: string;
  key: string;
  task_id: string;
  lease_epoch: number;
}

/** Migration 0026: a start of a rate-limited key, kept for one period. */
export interface FlowStartsTable {
  id: string;
  key: string;
  started_at: Timestamp;
}

export interface TaskTemplatesTable {
  id: string;
  owner_id: string;
  name: string;
  description: string | null;
  task_type: string;
  capability_required: string;
  default_input_data: WithDefault<JsonText>;
  default_priority: WithDefault<number>;
  default_timeout: WithDefault<number>;
  default_max_retries: WithDefault<number>;
  times_used: WithDefault<number>;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
}

export interface TaskChainsTable {
  id: string;
  owner_id: string;
  name: string;
  steps: JsonText;
  current_step: WithDefault<number>;
  status: WithDefault<string>;
  step_results: WithDefault<JsonText>;
  final_result: JsonText | null;
  error_message: string | null;
  started_at: Timestamp | null;
  completed_at: Timestamp | null;
  created_at: WithDefault<Timestamp>;
}

export interface SecretsTable {
  id: string;
  owner_id: string;
  workflow_id: string | null;
  name: string;
  encrypted_value: Buffer;
  key_version: number;
  scope: WithDefault<'workflow' | 'global'>;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
}

export interface TriggersTable {
  id: string;
  owner_id: string;
  workflow_id: string;
  workflow_name: string | null;
  type: string;
  webhook_path: string | null;
  /** Sealed with the keyring (see secrets/sealText); never shown after it is made. */
  webhook_secret: string | null;
  webhook_secret_previous: string | null;
  webhook_secret_previous_until: Timestamp | null;
  cron_expression: string | null;
  timezone: WithDefault<string>;
  misfire_policy: WithDefault<string>;
  catch_up_limit: WithDefault<number>;
  next_run_at: Timestamp | null;
  last_run_at: Timestamp | null;
  event_source: string | null;
  event_type: string | null;
  config: WithDefault<JsonText>;
  enabled: ColumnType<boolean | number, 0 | 1 | undefined, 0 | 1>;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
}

export interface TriggerFiringsTable {
  id: string;
  owner_id: string;
  trigger_id: string;
  fire_key: string;
  run_id: string | null;
  /** `refused` and `reason`: migration 0010 (the event loop guard). */
  status: 'started' | 'skipped' | 'failed' | 'refused';
  error: string | null;
  scheduled_for: Timestamp | null;
  created_at: WithDefault<Timestamp>;
  reason: 'depth-limit' | 'self-triggered' | 'throttled' | null;
  /** Migration 0027: the throttle key of the firing (null: the trigger has no throttle). */
  flow_key: string | null;
}

/** Migration 0027: locked by whoever starts or ends a run of one concurrency key. */
export interface RunConcurrencyKeysTable {
  id: string;
  owner_id: string;
  workflow_name: string;
  concurrency_key: string;
  created_at: WithDefault<Timestamp>;
}

/** Migration 0027: a debounced trigger's pending firing, per key. */
export interface TriggerDebouncesTable {
  id: string;
  owner_id: string;
  trigger_id: string;
  debounce_key: string;
  trigger_data: JsonText;
  event_depth: WithDefault<number>;
  coalesced: WithDefault<number>;
  fire_at: Timestamp;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
}

export interface EventsTable {
  id: string;
  owner_id: string;
  source: string;
  type: string;
  payload: JsonText;
  run_id: string | null;
  task_id: string | null;
  idempotency_key: string | null;
  status: WithDefault<'pending' | 'dispatched' | 'failed'>;
  dispatched_at: Timestamp | null;
  attempts: WithDefault<number>;
  last_error: string | null;
  created_at: WithDefault<Timestamp>;
  /** Migration 0010: 0 unless a run caused it; then one more than that run's `event_depth`. */
  depth: WithDefault<number>;
}

export interface ScheduledTasksTable {
  id: string;
  owner_id: string;
  name: string;
  cron_expression: string;
  timezone: WithDefault<string>;
  task_type: string;
  capability_required: string;
  input_data: WithDefault<JsonText>;
  priority: WithDefault<number>;
  timeout_seconds: WithDefault<number>;
  active: ColumnType<boolean | number, 0 | 1 | undefined, 0 | 1>;
  misfire_policy: WithDefault<string>;
  catch_up_limit: WithDefault<number>;
  last_run_at: Timestamp | null;
  next_run_at: Timestamp | null;
  total_runs: WithDefault<number>;
  successful_runs: WithDefault<number>;
  failed_runs: WithDefault<number>;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
}

export interface WebhooksTable {
  id: string;
  owner_id: string;
  name: string;
  url: string;
  /** Sealed with the keyring (see secrets/sealText). */
  secret: string;
  event_types: WithDefault<JsonText>;
  active: ColumnType<boolean | number, 0 | 1 | undefined, 0 | 1>;
  description: string | null;
  failure_count: WithDefault<number>;
  last_delivery_at: Timestamp | null;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
}

export interface WebhookDeliveriesTable {
  id: string;
  owner_id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  payload: JsonText;
  status: WithDefault<'pending' | 'delivering' | 'succeeded' | 'failed'>;
  attempt_count: WithDefault<number>;
  next_attempt_at: Timestamp | null;
  last_status_code: number | null;
  last_latency_ms: number | null;
  last_error: string | null;
  delivered_at: Timestamp | null;
  created_at: WithDefault<Timestamp>;
}

export interface WebhookDeliveryAttemptsTable {
  id: string;
  owner_id: string;
  delivery_id: string;
  attempt: number;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  created_at: WithDefault<Timestamp>;
}

export interface WorkerAssignmentsTable {
  id: string;
  worker_id: string;
  task_id: string;
  run_id: string | null;
  lease_epoch: number | null;
  status: WithDefault<string>;
  hostname: string | null;
  pid: number | null;
  assigned_at: WithDefault<Timestamp>;
  heartbeat_at: Timestamp | null;
  released_at: Timestamp | null;
}

export interface ExecutionArtifactsTable {
  id: string;
  owner_id: string;
  task_id: string | null;
  artifact_type: string | null;
  content: string | null;
  created_at: WithDefault<Timestamp>;
}

export interface ExecutionLogsTable {
  id: string;
  owner_id: string;
  run_id: string | null;
  task_id: string | null;
  step_id: string | null;
  agent_id: string | null;
  event_type: WithDefault<string>;
  level: WithDefault<string>;
  message: string;
  metadata: WithDefault<JsonText>;
  created_at: WithDefault<Timestamp>;
}

export interface MetricsTable {
  id: string;
  owner_id: string;
  agent_id: string | null;
  run_id: string | null;
  task_id: string | null;
  name: WithDefault<string>;
  execution_time_ms: number | null;
  token_usage: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  estimated_cost: number | null;
  provider: string | null;
  model: string | null;
  success_flag: ColumnType<boolean | number | null, 0 | 1 | null, 0 | 1 | null>;
  labels: WithDefault<JsonText>;
  created_at: WithDefault<Timestamp>;
}

export interface LlmProvidersTable {
  id: string;
  owner_id: string;
  name: string;
  provider: string;
  model: string | null;
  api_key_secret_id: string | null;
  base_url: string | null;
  active: ColumnType<boolean | number, 0 | 1 | undefined, 0 | 1>;
  is_default: ColumnType<boolean | number, 0 | 1 | undefined, 0 | 1>;
  configuration: WithDefault<JsonText>;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
}

export interface AgentConfigurationsTable {
  id: string;
  owner_id: string;
  agent_id: string;
  workflow_id: string | null;
  parameters: WithDefault<JsonText>;
  llm_model: string | null;
  system_prompt: string | null;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
}

export interface TrustRecordsTable {
  id: string;
  owner_id: string;
  agent_id: string;
  event_type:
    | 'task_completed'
    | 'task_failed'
    | 'task_timeout'
    | 'manual_adjustment'
    | 'consensus_agreed'
    | 'consensus_dissented';
  task_id: string | null;
  trust_delta: number;
  trust_score_before: number;
  trust_score_after: number;
  reason: string | null;
  created_at: WithDefault<Timestamp>;
}

/** One decision of a consensus step, written in the transaction that completes (or fails) it. */
export interface ConsensusResultsTable {
  id: string;
  owner_id: string;
  run_id: string | null;
  task_id: string | null;
  step_id: string | null;
  consensus_type: 'voting' | 'weighted' | 'judge_based' | 'mixture_of_agents';
  /** JSON: the members' outputs, each with its step id and agent. */
  agent_results: JsonText;
  /** JSON; null when no decision was reached (a missed quorum). */
  final_result: JsonText | null;
  confidence: number | null;
  created_at: WithDefault<Timestamp>;
  /** JSON: how it was decided (tally or weights, quorum, reached; a judge's choice and reasoning). */
  strategy_details: JsonText | null;
}

export interface McpServersTable {
  id: string;
  owner_id: string;
  name: string;
  transport: 'stdio' | 'http';
  command: string | null;
  /** JSON array of strings. */
  args: WithDefault<JsonText>;
  url: string | null;
  /** JSON object: header name → secret name. */
  headers: WithDefault<JsonText>;
  /** JSON array of secret names. */
  env: WithDefault<JsonText>;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
}

/** A finished run, archived (0005, widened by 0021): readable after its run's rows are pruned. */
export interface ExecutionHistoryTable {
  id: string;
  owner_id: string;
  run_id: string | null;
  task_id: string | null;
  workflow_id: string | null;
  workflow_name: string | null;
  workflow_version: string | null;
  input: JsonText | null;
  output: JsonText | null;
  /** JSON array of the run's messages, oldest first, capped (see src/history/archive.ts). */
  conversation_log: JsonText | null;
  /** JSON: steps, attempts, tokens, cost, per-step durations, message count. */
  metrics: JsonText | null;
  execution_time_ms: number | null;
  status: 'completed' | 'failed' | 'timeout' | 'cancelled';
  storage_url: string | null;
  started_at: Timestamp | null;
  completed_at: Timestamp | null;
  /** JSON: the run as `GET /api/v1/runs/{id}` showed it when it was archived. */
  run_snapshot: JsonText | null;
  created_at: WithDefault<Timestamp>;
}

/** One stored content (0028), addressed by the SHA-256 of its bytes (lowercase hex). */
export interface BlobsTable {
  /** The SHA-256 of the content. */
  id: string;
  /** Bytes; a string on PostgreSQL (bigint), a number on SQLite. */
  size: number | string | bigint;
  location: 'db' | 'dir';
  created_at: WithDefault<Timestamp>;
  last_referenced_at: WithDefault<Timestamp>;
}

/** A blob's bytes in the database, in order of `seq`. */
export interface BlobChunksTable {
  id: string;
  sha256: string;
  seq: number;
  data: Buffer;
}

/** Which owner's row (`source` table, `source_id`) references a blob. */
export interface BlobRefsTable {
  id: string;
  sha256: string;
  owner_id: string;
  source:
    | 'tasks'
    | 'events'
    | 'workflow_runs'
    | 'webhook_deliveries'
    | 'task_chains'
    | 'trigger_debounces'
    | 'waitpoints';
  source_id: string;
  created_at: WithDefault<Timestamp>;
}

/** A periodic job run once across all processes sharing the database (0021): id is its name. */
export interface MaintenanceLeasesTable {
  id: string;
  due_at: WithDefault<Timestamp>;
  holder: string | null;
  claimed_at: Timestamp | null;
  last_result: JsonText | null;
}

/** An owner's saved workflow template (0002, widened by 0021); the built-in ones are files. */
export interface WorkflowTemplatesTable {
  id: string;
  owner_id: string;
  name: string;
  description: string | null;
  orchestration_pattern: string | null;
  /** JSON: the workflow definition with `{{ name }}` placeholders. */
  template_data: JsonText;
  /** JSON array of {name, description, default?}. */
  parameters: WithDefault<JsonText>;
  is_public: DbBool;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
}

/** Migrations 0005 and 0020: alerts raised by Swarm itself (src/alerts/). */
export interface AlertsTable {
  id: string;
  owner_id: string;
  alert_type: string;
  severity: WithDefault<string>;
  title: string;
  message: string | null;
  related_agent_id: string | null;
  related_task_id: string | null;
  related_run_id: string | null;
  resolved: ColumnType<boolean | number, 0 | 1 | undefined, 0 | 1>;
  resolved_at: Timestamp | null;
  created_at: WithDefault<Timestamp>;
  /** What the alert is about: at most one open alert per owner and cause. */
  cause: string;
  count: WithDefault<number>;
  last_seen_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
  /** `auto`, or the id of the user who resolved it. */
  resolved_by: string | null;
  metadata: WithDefault<JsonText>;
}

/** Migration 0020: a periodic alert evaluation's watermark and the lease of the process running it. */
export interface AlertEvaluationsTable {
  id: string;
  watermark: Timestamp;
  claimed_by: string | null;
  claimed_until: Timestamp | null;
  updated_at: WithDefault<Timestamp>;
}

/** Migration 0022: what a waiting step waits for (src/queue/waitpoints.ts). */
export interface WaitpointsTable {
  id: string;
  owner_id: string;
  run_id: string | null;
  task_id: string;
  step_id: string | null;
  /** The waitpoint's name within its task: one per (task, key). */
  key: string;
  kind: 'approval' | 'event' | 'sleep';
  status: WithDefault<'waiting' | 'resolved' | 'timed_out' | 'cancelled'>;
  /** JSON: what is awaited (an approval's message, data, approvers, form; an event's match). */
  spec: WithDefault<JsonText>;
  event_type: string | null;
  event_source: string | null;
  events_since: Timestamp | null;
  /** The id of the last event already checked against this waitpoint. */
  matched_through: string | null;
  timeout_at: Timestamp | null;
  on_timeout: WithDefault<'fail' | 'approve' | 'reject' | 'continue'>;
  result: JsonText | null;
  /** A user id, `event:<id>`, `timeout` or `system`. */
  resolved_by: string | null;
  resolved_at: Timestamp | null;
  created_at: WithDefault<Timestamp>;
  updated_at: WithDefault<Timestamp>;
}

/** Migration 0023: a signed one-time approval link's nonce, expiry and use. */
export interface ApprovalLinksTable {
  /** The link's nonce. */
  id: string;
  owner_id: string;
  waitpoint_id: string;
  /** The user who made the link, or `step:<task id>` for one an approval step emailed itself. */
  created_by: string;
  expires_at: Timestamp;
  used_at: Timestamp | null;
  created_at: WithDefault<Timestamp>;
}

export interface SwarmDatabase {
  waitpoints: WaitpointsTable;
  approval_links: ApprovalLinksTable;
  alerts: AlertsTable;
  alert_evaluations: AlertEvaluationsTable;
  trust_records: TrustRecordsTable;
  consensus_results: ConsensusResultsTable;
  llm_providers: LlmProvidersTable;
  mcp_servers: McpServersTable;
  agent_configurations: AgentConfigurationsTable;
  execution_logs: ExecutionLogsTable;
  metrics: MetricsTable;
  users: UsersTable;
  flow_keys: FlowKeysTable;
  flow_slots: FlowSlotsTable;
  flow_starts: FlowStartsTable;
  sessions: SessionsTable;
  connectors: ConnectorsTable;
  login_attempts: LoginAttemptsTable;
  api_keys: ApiKeysTable;
  audit_logs: AuditLogsTable;
  auth_failures: AuthFailuresTable;
  rate_limit_tracker: RateLimitTrackerTable;
  owner_budgets: OwnerBudgetsTable;
  provider_usage_windows: ProviderUsageWindowsTable;
  agents: AgentsTable;
  workflows: WorkflowsTable;
  workflow_runs: WorkflowRunsTable;
  tasks: TasksTable;
  task_templates: TaskTemplatesTable;
  task_chains: TaskChainsTable;
  secrets: SecretsTable;
  triggers: TriggersTable;
  trigger_firings: TriggerFiringsTable;
  run_concurrency_keys: RunConcurrencyKeysTable;
  trigger_debounces: TriggerDebouncesTable;
  events: EventsTable;
  scheduled_tasks: ScheduledTasksTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_delivery_attempts: WebhookDeliveryAttemptsTable;
  worker_assignments: WorkerAssignmentsTable;
  execution_artifacts: ExecutionArtifactsTable;
  execution_history: ExecutionHistoryTable;
  maintenance_leases: MaintenanceLeasesTable;
  workflow_templates: WorkflowTemplatesTable;
  blobs: BlobsTable;
  blob_chunks: BlobChunksTable;
  blob_refs: BlobRefsTable;
}
