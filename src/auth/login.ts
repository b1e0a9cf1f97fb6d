import { randomBytes } from 'node:crypto';
import { SwarmError } from '../errors/index.js';
import type { Session, Store, User } from '../storage/index.js';
import type { LoginThrottle } from './login-throttle.js';
import { CURRENT_SCRYPT, hashPassword, needsRehash, verifyPassword, type ScryptParams } from './passwords.js';
import type { SessionManager } from './sessions.js';

/** The one answer to a wrong email, a wrong password and a disabled user alike. */
export const LOGIN_REFUSED = 'invalid email or password';

export interface SignedIn {
  readonly user: User;
  readonly session: Session;
  /** The cookie's value: in this result only. */
  readonly token: string;
  readonly csrfToken: string;
}

/** Thrown when the account or the address is locked out; `retryAfterSeconds` goes in Retry-After. */
export class LoginThrottled extends SwarmError {
  constructor(readonly retryAfterSeconds: number) {
    super('RATE_LIMITED', `too many failed sign-ins: try again in ${retryAfterSeconds} s`, {
      context: { retryAfterSeconds },
    });
    this.name = 'LoginThrottled';
  }
}

/**
 * Email and password to a session. The answer never tells whether the email exists: an unknown
 * email, a user without a password, a disabled user and a wrong password all get LOGIN_REFUSED,
 * after the same work (a password is verified against a dummy hash when there is no real one),
 * and all count against the throttle.
 */
export class LoginService {
  private dummy: string | null = null;

  constructor(
    private readonly store: Store,
    private readonly sessions: SessionManager,
    private readonly throttle: LoginThrottle,
    private readonly params: ScryptParams = CURRENT_SCRYPT,
  ) {}

  async login(
    email: string,
    password: string,
    request: { ipAddress?: string; userAgent?: string },
  ): Promise<SignedIn> {
    const wait = await this.throttle.wait(email, request.ipAddress);
    if (wait > 0) throw new LoginThrottled(Math.ceil(wait / 1000));
    const found = await this.store.system.findUserCredentials(email);
    const hash = found?.passwordHash ?? null;
    const matches = await verifyPassword(password, hash ?? this.dummyHash());
    if (found === null || hash === null || !matches || found.user.status !== 'active') {
      await this.throttle.fail(email, request.ipAddress);
      throw new SwarmError('UNAUTHENTICATED', LOGIN_REFUSED);
    }
    await this.throttle.succeed(email);
    // Parameters raised since this hash was made: the password is at hand, so hash it anew.
    const rehashed = needsRehash(hash, this.params) ? await hashPassword(password, this.params) : undefined;
    await this.store.system.recordSignIn(found.user.id, new Date().toISOString(), rehashed);
    const created = await this.sessions.create(found.user, request);
    const user = (await this.store.system.findUserById(found.user.id)) ?? found.user;
    return { user, ...created };
  }

  /**
   * A hash in the stored format at the current parameters whose key is random bytes, not derived
   * from any password: nothing matches it, yet verifying against it costs what a real one does.
   * Made without hashing, so neither the start nor the first unknown email pays for a hash.
   */
  private dummyHash(): string {
    const { ln, r, p } = this.params;
    this.dummy ??= `$scrypt$ln=${ln},r=${r},p=${p}$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`;
    return this.dummy;
  }
}
