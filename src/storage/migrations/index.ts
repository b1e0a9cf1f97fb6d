import type { Migration } from './ddl.js';
import { identity } from './0001-identity.js';
import { registry } from './0002-registry.js';
import { runs } from './0003-runs.js';
import { queue } from './0004-queue.js';
import { records } from './0005-records.js';
import { events } from './0006-events.js';
import { runDeadlines } from './0007-run-deadlines.js';
import { triggers } from './0008-triggers.js';
import { blockedTasks } from './0009-blocked-tasks.js';
import { eventCausation } from './0010-event-causation.js';
import { leaseLosses } from './0011-lease-losses.js';
import { authFailures } from './0012-auth-failures.js';
import { people } from './0013-people.js';
import { auditIndexes } from './0014-audit-indexes.js';
import { traceContext } from './0015-trace-context.js';
import { childTasks } from './0016-child-tasks.js';
import { budgets } from './0017-budgets.js';
import { mcpServers } from './0018-mcp-servers.js';
import { consensus } from './0019-consensus.js';
import { alerts } from './0020-alerts.js';
import { historyRetentionTemplates } from './0021-history-retention-templates.js';
import { waitpoints } from './0022-waitpoints.js';
import { approvalLinks } from './0023-approval-links.js';
import { eventWaits } from './0024-event-waits.js';
import { runForks } from './0025-run-forks.js';
import { flowControl } from './0026-flow-control.js';
import { runConcurrency } from './0027-run-concurrency.js';
import { blobs } from './0028-blobs.js';
import { leanTaskIndexes } from './0031-lean-task-indexes.js';
import { dropAssignmentStatusIndex } from './0032-assignment-status-index.js';
import { agentMaxConcurrency } from './0033-agent-max-concurrency.js';
import { blobSources } from './0034-blob-sources.js';
import { blobSources2 } from './0035-blob-sources-2.js';
import { standaloneTaskRetention } from './0036-standalone-task-retention.js';
import { ownerRetention } from './0037-owner-retention.js';
import { ownerClaimWeight } from './0038-owner-claim-weight.js';
import { taskReferencesByTrigger } from './0039-task-references-by-trigger.js';
import { foreignKeyIndexes } from './0040-foreign-key-indexes.js';
import { flowRunningIndex } from './0041-flow-running-index.js';
import { flowLockFunction } from './0042-flow-lock-function.js';
import { flowRoundFunction } from './0043-flow-round-function.js';
import { taskOwnerByTrigger } from './0044-task-owner-by-trigger.js';
import { recordReferencesByTrigger } from './0045-record-references-by-trigger.js';
import { taskVacuum } from './0046-task-vacuum.js';
import { flowKeysListing } from './0047-flow-keys-listing.js';
import { flowKeyPrune } from './0048-flow-key-prune.js';

/** Every migration, in order. Append only: a landed migration is never edited. */
export const MIGRATIONS: readonly Migration[] = [
  identity,
  registry,
  runs,
  queue,
  records,
  events,
  runDeadlines,
  triggers,
  blockedTasks,
  eventCausation,
  leaseLosses,
  authFailures,
  people,
  auditIndexes,
  traceContext,
  childTasks,
  budgets,
  mcpServers,
  consensus,
  alerts,
  historyRetentionTemplates,
  waitpoints,
  approvalLinks,
  eventWaits,
  runForks,
  flowControl,
  runConcurrency,
  blobs,
  leanTaskIndexes,
  dropAssignmentStatusIndex,
  agentMaxConcurrency,
  blobSources,
  blobSources2,
  standaloneTaskRetention,
  ownerRetention,
  ownerClaimWeight,
  taskReferencesByTrigger,
  foreignKeyIndexes,
  flowRunningIndex,
  flowLockFunction,
  flowRoundFunction,
  taskOwnerByTrigger,
  recordReferencesByTrigger,
  taskVacuum,
  flowKeysListing,
  flowKeyPrune,
];

export type { Migration } from './ddl.js';
export { TASK_STATUSES, ROUTING_STRATEGIES, RETRY_POLICIES } from './0004-queue.js';
export { RUN_STATUSES } from './0003-runs.js';
export { FIRING_STATUSES } from './0010-event-causation.js';
export { FIRING_REFUSAL_REASONS as REFUSAL_REASONS } from './0027-run-concurrency.js';
export { BLOB_LOCATIONS } from './0028-blobs.js';
export { BLOB_SOURCES } from './0035-blob-sources-2.js';
export { AUTH_FAILURE_KINDS } from './0012-auth-failures.js';
export { MCP_TRANSPORTS } from './0018-mcp-servers.js';
export { CONSENSUS_TYPES, TRUST_EVENT_TYPES } from './0019-consensus.js';
export { ALERT_TYPES, ALERT_SEVERITIES } from './0020-alerts.js';
export { TEMPLATE_PATTERNS } from './0021-history-retention-templates.js';
export { WAITPOINT_KINDS, WAITPOINT_STATUSES, WAITPOINT_TIMEOUT_ACTIONS } from './0022-waitpoints.js';
export { USER_ROLES, LOGIN_ATTEMPT_KINDS } from './0013-people.js';
export {
  AGENT_TYPES,
  AGENT_STATUSES,
  RUNTIME_TYPES,
  TRIGGER_TYPES,
  WORKFLOW_STATUSES,
} from './0002-registry.js';
