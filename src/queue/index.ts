/**
 * The durable queue: tasks as rows of `tasks`, claimed under fenced leases. The engine and
 * the workers sit on top; nothing here knows about runs beyond the ids it carries, and the
 * engine's part of a completion or final failure runs in the queue's transaction via hooks.
 */
export {
  BACKOFF_KINDS,
  DEFAULT_RETRY_POLICY,
  type BackoffKind,
  type RetryPolicy,
  type NewTask,
  type ClaimedTask,
  type Lease,
  type CompletedTask,
  type TaskAgentRef,
  type FailedTask,
  type TaskHook,
  PREPARE_ON_REQUEST,
  PrepareFirstError,
  type BatchHook,
  type PendingCompletion,
  type CompletionHooks,
  type FailureHooks,
  type LeaseHooks,
  type LostLease,
} from './types.js';
export {
  FLOW_SCOPES,
  flowKey,
  describeFlowKey,
  listFlowKeys,
  MAX_LISTED_KEYS,
  pruneIdleFlowKeys,
  noteAnnouncedWork,
  type FlowKeyView,
  type FlowScope,
  type FlowLimit,
  type FlowNamespace,
} from './flow/index.js';
export { computeBackoffMs } from './backoff.js';
export { enqueueTasks } from './enqueue.js';
export { TASKS_CHANNEL } from './announce.js';
export { claimTasks, type ClaimOptions, type ClaimFilter } from './claim.js';
export { renewLeases, type RenewResult } from './renew.js';
export { completeTasks, COMPLETION_FAILED, type Completion, type CompleteResult } from './complete.js';
export type { EagerClaimOptions } from './eager.js';
export { failTask, type Failure, type FailOutcome, type FailOptions } from './fail.js';
export {
  reclaimExpiredLeases,
  leaseLostMessage,
  LEASE_EXPIRED,
  DEFAULT_MAX_LEASE_LOSSES,
  type SparedLeases,
} from './reclaim.js';
export { cancelTasks, type CancelFilter } from './cancel.js';
export { releaseTasks } from './release.js';
export { sleepTask, type SleepRequest } from './sleep.js';
export {
  createWaitpoint,
  resolveWaitpoint,
  waitpointOf,
  cancelWaitpointsOf,
  waitpointFromRow,
  NEVER,
  type Waitpoint,
  type WaitpointKind,
  type WaitpointStatus,
  type WaitpointTimeoutAction,
  type WaitpointRequest,
  type WaitpointOwner,
  type Resolution,
} from './waitpoints.js';
export { checkpointTask, type CheckpointRequest } from './checkpoint.js';
export {
  childTasksOf,
  countRunChildTasks,
  wakeParents,
  FINISHED_STATUSES,
  type ChildTask,
} from './children.js';
export { chunksFor, inlineChunks, inlineRows, type InlineColumn } from './batch.js';
export { bisectFailures, messageOf, type FailedItem } from './split.js';
