import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SwarmError } from '../errors/index.js';
import type { Caller, Role, Session, Store } from '../storage/index.js';

/** The cookie the dashboard's session travels in. */
export const SESSION_COOKIE = 'swarm_session';
/** The header a cookie-authenticated request that changes something carries its CSRF token in. */
export const CSRF_HEADER = 'x-csrf-token';

export interface SessionOptions {
  /** A session unused this long ends. @default 720 (12 h) */
  readonly idleMinutes?: number;
  /** A session ends this long after sign-in, however used. @default 168 (7 days) */
  readonly maxHours?: number;
  /** Injectable clock, for tests. */
  readonly now?: () => number;
}

/** How often a session's use is written (`last_seen_at`, the idle expiry): not on every request. */
const TOUCH_INTERVAL_MS = 60_000;
const PRUNE_INTERVAL_MS = 3_600_000;
/** Ended sessions are kept this long (listed nowhere, but useful when reading the audit log). */
const KEEP_ENDED_MS = 7 * 86_400_000;

/** A session token: 256 random bits, base64url. Only its SHA-256 is stored. */
export function generateSessionToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashSessionToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The session's CSRF token, derived from the session token: a page at another origin can make
 * the browser send the cookie but cannot read it, so it cannot compute this; the server can,
 * from the cookie, whenever asked (no column, and the dashboard can fetch it again after a
 * reload). The HMAC is one-way: the CSRF token, kept in page memory, does not reveal the cookie.
 */
export function csrfTokenFor(token: string): string {
  return createHmac('sha256', token).update('swarm-csrf-v1').digest('base64url');
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** What authenticating a cookie gives: the caller, and the session it came with. */
export interface SessionCaller {
  readonly caller: Caller;
  readonly session: Session;
  readonly csrfToken: string;
}

/** Creates sessions at sign-in and resolves the cookie of later requests. */
export class SessionManager {
  readonly idleMs: number;
  readonly maxMs: number;
  private readonly now: () => number;
  private readonly lastTouched = new Map<string, number>();
  private lastPrune = 0;

  constructor(
    private readonly store: Store,
    options: SessionOptions = {},
  ) {
    this.idleMs = (options.idleMinutes ?? 720) * 60_000;
    this.maxMs = (options.maxHours ?? 168) * 3_600_000;
    this.now = options.now ?? Date.now;
  }

  /** A new session for a user who just proved its password. The token is in this result only. */
  async create(
    user: { id: string; role: Role },
    request: { ipAddress?: string; userAgent?: string },
  ): Promise<{ token: string; csrfToken: string; session: Session }> {
    const now = this.now();
    const token = generateSessionToken();
    const expires = now + this.maxMs;
    const session = await this.store.system.sessions.create(
      {
        userId: user.id,
        role: user.role,
        ...(request.ipAddress === undefined ? {} : { ipAddress: request.ipAddress }),
        ...(request.userAgent === undefined ? {} : { userAgent: request.userAgent }),
      },
      {
        tokenHash: hashSessionToken(token),
        createdAt: new Date(now).toISOString(),
        idleExpiresAt: new Date(Math.min(now + this.idleMs, expires)).toISOString(),
        expiresAt: new Date(expires).toISOString(),
      },
    );
    await this.prune(now);
    return { token, csrfToken: csrfTokenFor(token), session };
  }

  /**
   * The caller a session cookie stands for, or UNAUTHENTICATED (unknown, revoked, expired, user
   * disabled). A request that changes something (`unsafe`) must also carry the session's CSRF
   * token, else CSRF (403).
   */
  async authenticate(token: string, csrfHeader: string | undefined, unsafe: boolean): Promise<SessionCaller> {
    const found = await this.store.system.sessions.findByTokenHash(hashSessionToken(token));
    const now = this.now();
    const reason =
      found === null
        ? 'unknown session'
        : found.session.revokedAt !== null
          ? 'session ended (signed out or revoked)'
          : Date.parse(found.session.expiresAt) <= now || Date.parse(found.session.idleExpiresAt) <= now
            ? 'session expired: sign in again'
            : found.user.status !== 'active'
              ? 'user disabled'
              : null;
    if (reason !== null) throw new SwarmError('UNAUTHENTICATED', reason);
    const { session, user } = found!;
    const csrfToken = csrfTokenFor(token);
    if (unsafe && (csrfHeader === undefined || !sameText(csrfHeader, csrfToken)))
      throw new SwarmError(
        'CSRF',
        `a request signed in by the session cookie that changes something needs the header X-CSRF-Token (${
          csrfHeader === undefined ? 'missing' : 'wrong'
        }); the token comes with the login response and GET /api/v1/auth/session`,
      );
    await this.touch(session, now);
    return {
      caller: { userId: user.id, role: user.role, grants: user.grants, sessionId: session.id },
      session,
      csrfToken,
    };
  }

  private async touch(session: Session, now: number): Promise<void> {
    if (now - (this.lastTouched.get(session.id) ?? Date.parse(session.lastSeenAt)) < TOUCH_INTERVAL_MS)
      return;
    this.lastTouched.set(session.id, now);
    if (this.lastTouched.size > 10_000) this.lastTouched.clear();
    const idle = Math.min(now + this.idleMs, Date.parse(session.expiresAt));
    await this.store.system.sessions.touch(
      session.id,
      new Date(now).toISOString(),
      new Date(idle).toISOString(),
    );
  }

  /** Hourly, at a sign-in: deletes sessions that ended a week ago. */
  private async prune(now: number): Promise<void> {
    if (now - this.lastPrune < PRUNE_INTERVAL_MS) return;
    this.lastPrune = now;
    await this.store.system.sessions.prune(new Date(now - KEEP_ENDED_MS).toISOString());
  }
}
