import type { FastifyRequest } from 'fastify';
import { InputError, SwarmError } from '../errors/index.js';
import type { Caller, Store } from '../storage/index.js';

/** The header an admin sends to act on another owner's resources: that user's id or email. */
export const OWNER_HEADER = 'x-swarm-owner';

/**
 * Admins see and manage every owner's resources through this one door rather than through an
 * exception in each query: with `X-Swarm-Owner`, the request runs as that owner (every query
 * stays filtered by `owner_id`), keeps the admin's role and scopes, and its audit rows name the
 * admin as the actor. Sign-in and session routes (`/api/v1/auth/…`) are about the signed-in
 * person and ignore it.
 */
export async function actAsOwner(request: FastifyRequest, caller: Caller, store: Store): Promise<Caller> {
  const header = request.headers[OWNER_HEADER];
  if (header === undefined) return caller;
  const path = request.url.split('?')[0] ?? request.url;
  if (path.startsWith('/api/v1/auth/')) return caller;
  const ref = (Array.isArray(header) ? header.join(',') : header).trim();
  if (caller.role !== 'admin') {
    throw new SwarmError('FORBIDDEN', 'X-Swarm-Owner: only admins act for another owner');
  }
  if (ref === '' || ref.length > 320 || ref.includes(',')) {
    throw new InputError('X-Swarm-Owner', 'must be one user id or email');
  }
  const owner = ref.includes('@')
    ? await store.system.findUserByEmail(ref)
    : await store.system.findUserById(ref);
  if (owner === null) throw new InputError('X-Swarm-Owner', `no user ${JSON.stringify(ref)}`);
  if (owner.id === caller.userId) return caller;
  return { ...caller, userId: owner.id, actorId: caller.actorId ?? caller.userId };
}
