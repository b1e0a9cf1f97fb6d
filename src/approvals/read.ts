/**
 * Approvals as people see them: the `approval` waitpoints of an owner, with their run's
 * workflow, what is asked, and how (and by whom) they were settled.
 */
import { NotFoundError } from '../errors/index.js';
import { waitpointFromRow, type Waitpoint } from '../queue/index.js';
import type { ApprovalDecision, ApprovalSpec, Decider } from '../runtimes/index.js';
import type { Caller, DatabaseHandle } from '../storage/index.js';
import { mayDecide, type Person } from './permission.js';

export const APPROVAL_STATUSES = ['waiting', 'resolved', 'timed_out', 'cancelled'] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

export interface Approval {
  readonly id: string;
  readonly runId: string | null;
  readonly workflowName: string | null;
  readonly stepId: string | null;
  readonly message: string;
  readonly data: unknown;
  readonly form: Record<string, unknown> | null;
  readonly approvers: ApprovalSpec['approvers'];
  readonly timeoutAt: string | null;
  readonly onTimeout: Waitpoint['onTimeout'];
  readonly status: ApprovalStatus;
  /** approve or reject once decided; null while waiting, timed out or cancelled. */
  readonly decision: 'approve' | 'reject' | null;
  readonly comment: string | null;
  readonly decidedBy: Decider | null;
  readonly decidedAt: string | null;
  readonly createdAt: string;
  /** Whether the caller may decide it (it waits, and approvers allow them). */
  readonly canDecide: boolean;
}

/** Approvals found with the waitpoint each came from (owner checks, deciding). */
export interface FoundApproval {
  readonly waitpoint: Waitpoint;
  readonly workflowName: string | null;
}

export interface ApprovalFilters {
  readonly status?: ApprovalStatus | 'all';
  readonly cursor?: string;
  /** @default 50 */
  readonly limit?: number;
}

function query(handle: DatabaseHandle, ownerId: string) {
  return handle.db
    .selectFrom('waitpoints')
    .leftJoin('workflow_runs', 'workflow_runs.id', 'waitpoints.run_id')
    .selectAll('waitpoints')
    .select('workflow_runs.workflow_name as workflow_name')
    .where('waitpoints.owner_id', '=', ownerId)
    .where('waitpoints.kind', '=', 'approval');
}

/** The owner's approvals, newest first (ids are time-ordered); `next` is the cursor of the next page. */
export async function listApprovals(
  handle: DatabaseHandle,
  ownerId: string,
  filters: ApprovalFilters = {},
): Promise<{ items: FoundApproval[]; next: string | null }> {
  const limit = filters.limit ?? 50;
  let q = query(handle, ownerId);
  const status = filters.status ?? 'waiting';
  if (status !== 'all') q = q.where('waitpoints.status', '=', status);
  if (filters.cursor !== undefined) q = q.where('waitpoints.id', '<', filters.cursor);
  const rows = await q
    .orderBy('waitpoints.id', 'desc')
    .limit(limit + 1)
    .execute();
  const page = rows.slice(0, limit);
  const items: FoundApproval[] = [];
  // Whole, even in a list: the view shows no result, but takes its decision and comment from it.
  for (const { workflow_name, ...row } of page)
    items.push({ waitpoint: await waitpointFromRow(handle.db, row), workflowName: workflow_name });
  return {
    items,
    next: rows.length > limit ? page.at(-1)!.id : null,
  };
}

/** One of the owner's approvals, or NOT_FOUND (another owner's too). */
export async function findApproval(
  handle: DatabaseHandle,
  ownerId: string,
  id: string,
): Promise<FoundApproval> {
  const row = await query(handle, ownerId).where('waitpoints.id', '=', id).executeTakeFirst();
  if (row === undefined) throw new NotFoundError('approval', id);
  const { workflow_name, ...waitpoint } = row;
  return { waitpoint: await waitpointFromRow(handle.db, waitpoint), workflowName: workflow_name };
}

/** The API's view of an approval, for `person` (null: nobody, e.g. a link's page). */
export function approvalView(found: FoundApproval, person: Person | null): Approval {
  const { waitpoint } = found;
  const spec = (waitpoint.spec ?? {}) as Partial<ApprovalSpec>;
  const result =
    waitpoint.status === 'resolved' ? ((waitpoint.result ?? {}) as Partial<ApprovalDecision>) : null;
  const status = waitpoint.status;
  return {
    id: waitpoint.id,
    runId: waitpoint.runId,
    workflowName: found.workflowName,
    stepId: waitpoint.stepId,
    message: spec.message ?? '',
    data: spec.data ?? null,
    form: spec.form ?? null,
    approvers: spec.approvers ?? null,
    timeoutAt: waitpoint.timeoutAt,
    onTimeout: waitpoint.onTimeout,
    status,
    decision: result?.decision ?? null,
    comment: result?.comment ?? null,
    decidedBy:
      result?.decided_by ?? (status === 'timed_out' ? { id: null, email: null, via: 'timeout' } : null),
    decidedAt: waitpoint.resolvedAt,
    createdAt: waitpoint.createdAt,
    canDecide:
      person !== null && status === 'waiting' && mayDecide(spec.approvers ?? null, waitpoint.ownerId, person),
  };
}

/** The caller as `mayDecide` sees them: the person behind the request, with their email. */
export async function personOf(handle: DatabaseHandle, caller: Caller): Promise<Person> {
  const id = caller.actorId ?? caller.userId;
  const user = await handle.db.selectFrom('users').select(['email']).where('id', '=', id).executeTakeFirst();
  return { id, email: user?.email ?? null, role: caller.role };
}
