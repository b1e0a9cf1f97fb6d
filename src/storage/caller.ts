/**
 * Who is asking. Every owned-row operation of the storage API takes one, and its queries are
 * filtered by `owner_id = caller.userId`, so no feature can forget tenancy.
 */
export interface Caller {
  readonly userId: string;
  readonly role: 'admin' | 'member';
  /** The API key the request came with, for the audit log. */
  readonly keyId?: string;
}
