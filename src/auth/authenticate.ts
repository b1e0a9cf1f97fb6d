import { SwarmError } from '../errors/index.js';
import type { Caller, Store } from '../storage/index.js';
import { API_KEY_PREFIX_LENGTH, hashApiKey } from './api-key.js';
import type { AuthFailureSink } from './failures.js';
import { KeyUses, type KeyUsesOptions } from './key-uses.js';

export interface RequestInfo {
  readonly ipAddress?: string;
  readonly userAgent?: string;
}

/** Resolves `Authorization: Bearer <key>` to a caller, or throws UNAUTHENTICATED (counted). */
export class Authenticator {
  /** `last_used_at`, written for many requests at once every few seconds, not per request. */
  private readonly keyUses: KeyUses;

  /** `failures` counts refused keys per window and source (not an audit row per request). */
  constructor(
    private readonly store: Store,
    private readonly failures: AuthFailureSink,
    keyUses: KeyUsesOptions = {},
  ) {
    this.keyUses = new KeyUses(store, keyUses).start();
  }

  /** Stops the timer and writes the last uses noted. */
  close(): Promise<void> {
    return this.keyUses.close();
  }

  async authenticate(authorization: string | undefined, request: RequestInfo = {}): Promise<Caller> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (match === null) {
      const reason = 'missing Authorization header';
      this.fail(reason, request);
      throw new SwarmError('UNAUTHENTICATED', `${reason}: expected "Bearer <api key>"`);
    }
    const sent = match[1]!;
    const found = await this.store.system.findApiKeyByHash(hashApiKey(sent));
    const reason =
      found === null
        ? 'unknown API key'
        : !found.key.active
          ? 'API key revoked'
          : found.key.expiresAt !== null && Date.parse(found.key.expiresAt) <= Date.now()
            ? 'API key expired'
            : found.user.status !== 'active'
              ? 'user disabled'
              : null;
    if (reason !== null) {
      // As long as the prefix stored with every key: enough to tell which key, never the key.
      this.fail(reason, request, sent.slice(0, API_KEY_PREFIX_LENGTH), found?.user.id ?? null);
      throw new SwarmError('UNAUTHENTICATED', reason);
    }
    const { key, user } = found!;
    this.keyUses.note(key.id);
    // The key's scopes go with the caller: the route's declared scope is checked against them.
    return { userId: user.id, role: user.role, keyId: key.id, scopes: key.scopes, grants: user.grants };
  }

  private fail(reason: string, request: RequestInfo, keyPrefix = '', ownerId: string | null = null): void {
    this.failures.record({
      kind: 'api_key',
      reason,
      keyPrefix,
      ownerId,
      ...(request.ipAddress === undefined ? {} : { ipAddress: request.ipAddress }),
      ...(request.userAgent === undefined ? {} : { userAgent: request.userAgent }),
    });
  }
}
