import { SwarmError } from '../errors/index.js';
import type { Caller, Store } from '../storage/index.js';
import { hashApiKey } from './api-key.js';

export interface RequestInfo {
  readonly ipAddress?: string;
  readonly userAgent?: string;
}

/** How often `last_used_at` is written per key: not on every request. */
const TOUCH_INTERVAL_MS = 60_000;

/** Resolves `Authorization: Bearer <key>` to a caller, or throws UNAUTHENTICATED (audited). */
export class Authenticator {
  private readonly lastTouched = new Map<string, number>();

  constructor(private readonly store: Store) {}

  async authenticate(authorization: string | undefined, request: RequestInfo = {}): Promise<Caller> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (match === null) {
      throw new SwarmError('UNAUTHENTICATED', 'missing Authorization header: expected "Bearer <api key>"');
    }
    const found = await this.store.system.findApiKeyByHash(hashApiKey(match[1]!));
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
      await this.store.system.recordAudit({
        eventType: 'authentication',
        action: 'api_key',
        success: false,
        errorMessage: reason,
        ...(found === null
          ? {}
          : { caller: { userId: found.user.id, role: found.user.role, keyId: found.key.id } }),
        ...(request.ipAddress === undefined ? {} : { ipAddress: request.ipAddress }),
        ...(request.userAgent === undefined ? {} : { userAgent: request.userAgent }),
      });
      throw new SwarmError('UNAUTHENTICATED', reason);
    }
    const { key, user } = found!;
    await this.touch(key.id);
    return { userId: user.id, role: user.role, keyId: key.id };
  }

  private async touch(keyId: string): Promise<void> {
    const now = Date.now();
    if (now - (this.lastTouched.get(keyId) ?? 0) < TOUCH_INTERVAL_MS) return;
    this.lastTouched.set(keyId, now);
    await this.store.system.touchApiKey(keyId, new Date(now).toISOString());
  }
}
