/** What a user may do: see src/auth/scopes.ts (roleAllows). */
export type Role = 'admin' | 'member' | 'viewer';

/**
 * Who is asking. Every owned-row operation of the storage API takes one, and its queries are
 * filtered by `owner_id = caller.userId`, so no feature can forget tenancy.
 */
export interface Caller {
  readonly userId: string;
  readonly role: Role;
  /**
   * The admin acting for `userId` (the `X-Swarm-Owner` header): the rows are the owner's, the
   * audit log's actor is the admin.
   */
  readonly actorId?: string;
  /** The API key the request came with, for the audit log. */
  readonly keyId?: string;
  /** The session (dashboard cookie) the request came with instead of a key. */
  readonly sessionId?: string;
  /** The key's scopes; absent for a session or Swarm itself (then the role alone decides). */
  readonly scopes?: readonly string[];
  /** Scopes an admin granted this user beyond its role's (e.g. `agents:publish`). */
  readonly grants?: readonly string[];
  /** The request's source address and user agent (set by the auth hook), for the audit log. */
  readonly ipAddress?: string;
  readonly userAgent?: string;
}

/** The person behind a caller: the admin acting for an owner, else the caller itself. */
export function actorOf(caller: Caller): string {
  return caller.actorId ?? caller.userId;
}
