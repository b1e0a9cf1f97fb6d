import type { ApprovalLinkMaker } from '../runtimes/index.js';
import type { Keyring } from '../secrets/index.js';
import { actorOf, type Caller, type DatabaseHandle } from '../storage/index.js';
import { createLink, type ApprovalLink } from './links.js';
import { findApproval } from './read.js';
import { SwarmError } from '../errors/index.js';

/** A link to one of the caller's waiting approvals (`POST /api/v1/approvals/{id}/links`). */
export async function createApprovalLink(
  handle: DatabaseHandle,
  keyring: Keyring,
  caller: Caller,
  id: string,
  expiresInSeconds: number,
  now: Date = new Date(),
): Promise<ApprovalLink> {
  const found = await findApproval(handle, caller.userId, id);
  if (found.waitpoint.status !== 'waiting')
    throw new SwarmError(
      'APPROVAL_SETTLED',
      `approval ${id} is already ${found.waitpoint.status.replace('_', ' ')}: a link could decide nothing`,
    );
  return createLink(
    handle.db,
    keyring,
    {
      ownerId: caller.userId,
      approvalId: id,
      createdBy: actorOf(caller),
      expiresAt: new Date(now.getTime() + expiresInSeconds * 1000),
    },
    now,
  );
}

/**
 * What a worker hands builtin/approval to email links with: links under `publicUrl`
 * (SWARM_PUBLIC_URL), signed with the worker's keyring (the same keys the servers check with).
 */
export function linkMaker(
  handle: DatabaseHandle,
  keyring: Keyring,
  publicUrl: () => string,
): ApprovalLinkMaker {
  return {
    async create(request) {
      const link = await createLink(handle.db, keyring, request);
      return { url: `${publicUrl().replace(/\/+$/, '')}${link.path}`, expiresAt: link.expiresAt };
    },
  };
}
