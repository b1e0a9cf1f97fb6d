/**
 * Deciding an approval: by a signed-in person (the API, CLI and dashboard) or by a signed link.
 * Either way the decision is one transaction: the waitpoint's conditional settle (which wakes the
 * step), the link's one use, and the audit row. Of any number of racing deciders (two servers,
 * a double click, the step's own timeout) exactly one commits; the others get APPROVAL_SETTLED
 * and write nothing.
 */
import { Ajv, type ErrorObject } from 'ajv';
import type { Kysely } from 'kysely';
import { InputError, SwarmError } from '../errors/index.js';
import { resolveWaitpoint } from '../queue/index.js';
import type { ApprovalDecision, ApprovalSpec, Decider } from '../runtimes/index.js';
import type { Keyring } from '../secrets/index.js';
import { recordAudit, type Caller, type DatabaseHandle, type SwarmDatabase } from '../storage/index.js';
import { findLink, useLink, verifyToken } from './links.js';
import { mayDecide } from './permission.js';
import { approvalView, findApproval, personOf, type Approval, type FoundApproval } from './read.js';

export interface DecisionInput {
  readonly decision: 'approve' | 'reject';
  readonly data?: unknown;
  readonly comment?: string;
}

const formAjv = new Ajv({ allErrors: true, strict: false, validateFormats: false });

/** A signed-in caller decides one of their owner's approvals. */
export async function decideApproval(
  handle: DatabaseHandle,
  caller: Caller,
  id: string,
  input: DecisionInput,
  now: Date = new Date(),
): Promise<Approval> {
  const found = await findApproval(handle, caller.userId, id);
  const person = await personOf(handle, caller);
  assertWaiting(found, now);
  const spec = found.waitpoint.spec as Partial<ApprovalSpec>;
  if (!mayDecide(spec.approvers ?? null, found.waitpoint.ownerId, person))
    throw new SwarmError(
      'FORBIDDEN',
      `you are not one of this approval's approvers (${describe(spec.approvers)})`,
      {
        context: { approval: id },
      },
    );
  checkForm(spec.form ?? null, input);
  const decidedBy: Decider = { id: person.id, email: person.email, via: 'api' };
  await settle(handle, found, input, decidedBy, now, async (trx) =>
    recordAudit(trx, {
      caller,
      ownerId: found.waitpoint.ownerId,
      action: `approval.${input.decision}`,
      resourceType: 'approval',
      resourceId: id,
      metadata: auditMetadata(found, input),
    }),
  );
  return approvalView(await findApproval(handle, caller.userId, id), person);
}

/** A link's token, checked: what it names, its row, and its approval (which must still wait). */
async function openLink(handle: DatabaseHandle, keyring: Keyring, token: string, now: Date) {
  const claim = verifyToken(keyring, token, now);
  const link = await findLink(handle, claim);
  if (link === null)
    throw new SwarmError('APPROVAL_LINK_INVALID', 'this approval link is not valid (its approval is gone)');
  if (link.usedAt !== null)
    throw new SwarmError('APPROVAL_LINK_USED', `this approval link was already used (${link.usedAt})`);
  const found = await findApproval(handle, link.ownerId, claim.approvalId);
  assertWaiting(found, now);
  return { claim, found };
}

/** What a link's page shows before deciding: the approval, if the token is good and it still waits. */
export async function approvalOfLink(
  handle: DatabaseHandle,
  keyring: Keyring,
  token: string,
  now: Date = new Date(),
): Promise<Approval> {
  return approvalView((await openLink(handle, keyring, token, now)).found, null);
}

/** Decides by a signed link: the token is the credential (and makes a cross-site forgery pointless). */
export async function decideByLink(
  handle: DatabaseHandle,
  keyring: Keyring,
  token: string,
  input: DecisionInput,
  origin: { ipAddress?: string; userAgent?: string },
  now: Date = new Date(),
): Promise<Approval> {
  const { claim, found } = await openLink(handle, keyring, token, now);
  checkForm((found.waitpoint.spec as Partial<ApprovalSpec>).form ?? null, input);
  await settle(handle, found, input, null, now, async (trx) => {
    const link = await useLink(trx, claim, now);
    if (link === null) throw new SwarmError('APPROVAL_LINK_USED', 'this approval link was already used');
    const decidedBy: Decider = {
      id: null,
      email: null,
      via: 'link',
      link: { id: claim.linkId, created_by: link.createdBy },
    };
    await recordAudit(trx, {
      ownerId: link.ownerId,
      action: `approval.${input.decision}`,
      resourceType: 'approval',
      resourceId: found.waitpoint.id,
      ...origin,
      metadata: {
        ...auditMetadata(found, input),
        via: 'link',
        link: claim.linkId,
        linkCreatedBy: link.createdBy,
      },
    });
    return decidedBy;
  });
  return approvalView(await findApproval(handle, found.waitpoint.ownerId, found.waitpoint.id), null);
}

/**
 * The settle itself. `inside` runs in the same transaction first (the link's use, the audit
 * row) and may give the decider; a settle that loses the race rolls it all back.
 */
async function settle(
  handle: DatabaseHandle,
  found: FoundApproval,
  input: DecisionInput,
  decidedBy: Decider | null,
  now: Date,
  inside: (trx: Kysely<SwarmDatabase>) => Promise<Decider | void>,
): Promise<void> {
  const { db, dialect } = handle;
  const { waitpoint } = found;
  await dialect.writeTransaction(db, async (trx) => {
    const by = (await inside(trx)) ?? decidedBy!;
    const result: ApprovalDecision = {
      decision: input.decision,
      data: input.data ?? null,
      comment: input.comment ?? null,
      decided_by: by,
      decided_at: now.toISOString(),
    };
    const settled = await resolveWaitpoint(
      handle,
      {
        id: waitpoint.id,
        ownerId: waitpoint.ownerId,
        status: 'resolved',
        result,
        resolvedBy: by.id ?? (by.link === undefined ? 'system' : `link:${by.link.id}`),
      },
      now,
      trx,
    );
    if (settled === null) throw settledError(waitpoint.id, 'another decision or its timeout got there first');
  });
}

function assertWaiting(found: FoundApproval, now: Date): void {
  const { waitpoint } = found;
  if (waitpoint.status !== 'waiting')
    throw settledError(waitpoint.id, `it is already ${waitpoint.status.replace('_', ' ')}`);
  // Past its timeout, the step settles it as timed out when it wakes (any moment now).
  if (waitpoint.timeoutAt !== null && Date.parse(waitpoint.timeoutAt) <= now.getTime())
    throw settledError(waitpoint.id, `its timeout passed at ${waitpoint.timeoutAt}`);
}

function settledError(id: string, why: string): SwarmError {
  return new SwarmError('APPROVAL_SETTLED', `approval ${id} cannot be decided: ${why}`, {
    context: { approval: id },
  });
}

/** An approval's `data` must fit its form; a rejection's data is kept as given, unchecked. */
function checkForm(form: Record<string, unknown> | null, input: DecisionInput): void {
  if (form === null || input.decision !== 'approve') return;
  const validate = formAjv.compile(form);
  if (validate(input.data ?? {})) return;
  const issues = (validate.errors ?? []).map(formIssue);
  const [first, ...more] = issues;
  throw new InputError(first?.field ?? 'data', first?.message ?? 'does not match the form', more);
}

function formIssue(error: ErrorObject): { field: string; message: string } {
  const path = error.instancePath.split('/').slice(1);
  const params = error.params as { missingProperty?: string; additionalProperty?: string };
  if (error.keyword === 'required')
    return { field: ['data', ...path, params.missingProperty].join('.'), message: 'is required' };
  if (error.keyword === 'additionalProperties')
    return { field: ['data', ...path, params.additionalProperty].join('.'), message: 'is not in the form' };
  return { field: ['data', ...path].join('.'), message: error.message ?? error.keyword };
}

function auditMetadata(found: FoundApproval, input: DecisionInput): Record<string, unknown> {
  return {
    runId: found.waitpoint.runId,
    stepId: found.waitpoint.stepId,
    workflow: found.workflowName,
    decision: input.decision,
    ...(input.comment === undefined ? {} : { comment: input.comment }),
  };
}

function describe(approvers: ApprovalSpec['approvers'] | undefined): string {
  const parts = [
    ...(approvers?.users?.length ? [`users: ${approvers.users.join(', ')}`] : []),
    ...(approvers?.roles?.length ? [`roles: ${approvers.roles.join(', ')}`] : []),
  ];
  return parts.join('; ') || 'the owner';
}
