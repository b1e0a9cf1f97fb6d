export { Store, type CallerStore } from './store.js';
export type { Caller, Role } from './caller.js';
export { actorOf } from './caller.js';
export { openDatabase, type DatabaseHandle, type OpenOptions } from './connect.js';
export { isDatabaseUnavailable, isTransientDatabaseError } from './unavailable.js';
export { danglingReferenceError, requireResolvedReferences } from './references.js';
export { parseDatabaseUrl, redactDatabaseUrl, describeTarget, type DatabaseTarget } from './database-url.js';
export {
  migrate,
  schemaStatus,
  assertMigrated,
  MIGRATIONS_TABLE,
  type SchemaStatus,
  type MigrationState,
} from './migrator.js';
export {
  MIGRATIONS,
  RUN_STATUSES,
  TASK_STATUSES,
  ROUTING_STRATEGIES,
  RETRY_POLICIES,
  AGENT_TYPES,
  AGENT_STATUSES,
  RUNTIME_TYPES,
  TRIGGER_TYPES,
  WORKFLOW_STATUSES,
  FIRING_STATUSES,
  REFUSAL_REASONS,
  AUTH_FAILURE_KINDS,
  USER_ROLES,
  LOGIN_ATTEMPT_KINDS,
  MCP_TRANSPORTS,
  CONSENSUS_TYPES,
  TRUST_EVENT_TYPES,
  TEMPLATE_PATTERNS,
  ALERT_TYPES,
  ALERT_SEVERITIES,
  WAITPOINT_KINDS,
  WAITPOINT_STATUSES,
  WAITPOINT_TIMEOUT_ACTIONS,
  BLOB_SOURCES,
  BLOB_LOCATIONS,
} from './migrations/index.js';
export {
  LOGICAL_TYPES,
  type LogicalType,
  type ColumnInfo,
  type DanglingReference,
  type DialectAdapter,
  type DialectName,
} from './dialect/dialect.js';
export {
  findJsonProblem,
  jsonTextTooDeep,
  depthMessage,
  NUL_MESSAGE,
  type JsonProblem,
  type JsonGuardOptions,
} from './json-guard.js';
export {
  MAX_STORED_JSON_DEPTH,
  canonicalJson,
  byCodeUnits,
  newId,
  toDbJson,
  toDbText,
  fromDbJson,
  toDbBool,
  fromDbBool,
  toDbTimestamp,
  nowTimestamp,
} from './values.js';
export type { User, NewUser, UserChange } from './repositories/users.js';
export type { Session, NewSession, SessionOwner } from './repositories/sessions.js';
export type { LoginSubject, LoginAttemptState } from './repositories/login-attempts.js';
export type { ApiKey, NewApiKey, KeyOwner } from './repositories/api-keys.js';
export {
  recordAudit,
  auditedWrite,
  MAX_AUDIT_PAGE,
  type AuditEntry,
  type AuditRecord,
  type AuditFilters,
} from './repositories/audit-logs.js';
export type { AuthFailureCount, AuthFailureFilters } from './repositories/auth-failures.js';
export type {
  RateLimitAsk,
  RateLimitGrant,
  RateLimits,
  RateLimitWindowType,
} from './repositories/rate-limits.js';
export type { AgentRecord, NewAgent, AgentFilters, AgentRef } from './repositories/agents.js';
export { agentsNamed, isBuiltinAgent } from './repositories/agents.js';
export {
  queueSummary,
  MAX_QUEUE_ASSIGNMENTS,
  type QueueSummary,
  type WorkerSummary,
  type WorkerAssignment,
  type OldestWaiting,
} from './repositories/queue-summary.js';
export type { WorkflowRecord, NewWorkflow } from './repositories/workflows.js';
export type { SecretRecord, SealedSecret, Seal, ReencryptReport } from './repositories/secrets.js';
export {
  LLM_PROVIDER_KINDS,
  type LlmProviderKind,
  type LlmProviderRecord,
  type NewLlmProvider,
  type AgentConfigurationRecord,
  type LlmUsage,
} from './repositories/llm.js';
export type { McpServerRecord, NewMcpServer, McpTransport } from './repositories/mcp-servers.js';
export type { ConnectorRecord, NewConnector } from './repositories/connectors.js';
export type {
  ArtifactRecord,
  ArtifactWithContent,
  MessageRecord,
  NewArtifact,
  NewMessage,
  NewUsage,
  ReportBatch,
  StepConversation,
  ToolTaskRecord,
} from './repositories/records.js';
export { insertMessages, type MessagesTable } from './repositories/records.js';
export {
  BUDGET_PERIODS,
  periodStart,
  type BudgetPeriod,
  type OwnerBudget,
  type ProviderRateLimits,
  type Spend,
  type SpendLimit,
} from './repositories/budgets.js';
export {
  AUTO_RESOLVED_BY,
  raiseAlert,
  resolveOpenAlerts,
  resolveAlertByHand,
  resolvedByHandSince,
  listOpenAlertsByPrefix,
  type Alert,
  type AlertFilters,
  type AlertSeverity,
  type AlertType,
  type NewAlert,
  type RaiseOutcome,
} from './repositories/alerts.js';
export * as alertEvaluations from './repositories/alert-evaluations.js';
export {
  insertEventRows,
  EVENTS_CHANNEL,
  SYSTEM_EVENT_SOURCE,
  type NewEvent,
  type PreparedEvent,
} from './repositories/events.js';
export type {
  SwarmDatabase,
  WorkflowRunsTable,
  TasksTable,
  TriggersTable,
  ScheduledTasksTable,
  EventsTable,
  WebhooksTable,
  WebhookDeliveriesTable,
  WebhookDeliveryAttemptsTable,
  WaitpointsTable,
  ApprovalLinksTable,
} from './schema-types.js';
