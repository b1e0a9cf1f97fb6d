/**
 * Approvals (issue 17): people deciding `builtin/approval` steps. An approval is a waitpoint of
 * kind `approval` (src/queue/waitpoints.ts); this part lists them, decides them (signed in, or
 * by a signed one-time link) and makes those links. See docs/waiting.md.
 */
export {
  APPROVAL_STATUSES,
  approvalView,
  findApproval,
  listApprovals,
  personOf,
  type Approval,
  type ApprovalFilters,
  type ApprovalStatus,
  type FoundApproval,
} from './read.js';
export { approvalOfLink, decideApproval, decideByLink, type DecisionInput } from './decide.js';
export { createLink, verifyToken, type ApprovalLink, type LinkClaim } from './links.js';
export { linkMaker, createApprovalLink } from './make.js';
export { mayDecide, type Person } from './permission.js';
