/**
 * Flow control in the claim (docs/flow-control.md): concurrency limits, rate limits and owner
 * quotas on keyed tasks. Unkeyed tasks never meet any of it.
 */
export {
  FLOW_SCOPES,
  flowKey,
  describeFlowKey,
  ownerQuota,
  type FlowScope,
  type FlowLimit,
  type FlowNamespace,
} from './keys.js';
export { flowIssues, registerFlowKeys } from './register.js';
export { claimKeyedTasks, type KeyedClaimAt } from './claim.js';
export {
  noteKeyedWork,
  noteNoKeyedWork,
  shouldLookForKeyedWork,
  noteUnkeyedWork,
  announcementOf,
  noteAnnouncedWork,
  noteNoUnkeyedWork,
  unkeyedRecentlyEmpty,
  UNKEYED_PAUSE_MS,
  withOwnerQuotas,
  withAgentLimits,
  PROBE_MS,
} from './gate.js';
export { listFlowKeys, MAX_LISTED_KEYS, type FlowKeyView } from './list.js';
export { ownersInTurn } from './fair.js';
export { pruneIdleFlowKeys } from './prune.js';
